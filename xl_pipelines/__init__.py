"""xl: the lakehouse of Tongliao's Sharp Eyes (雪亮工程) public-security video network."""
