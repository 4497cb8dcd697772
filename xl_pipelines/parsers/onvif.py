"""ONVIF MetadataStream documents (`onvif/<date>/<code>/<channel_id>/<recv>.xml`): the international
counterpart of GA/T 1400 captures, from cameras whose analytics speak ONVIF.

One XSLT (libxslt, in C) flattens each document to tab-separated text, one line per capture record; Polars
reads all the documents' text at once. A record is a `tt:Frame/tt:Object`, or a plate reader's event (a
`tt:Event` message with a `PlateNumber` SimpleItem, as ONVIF's LicensePlateDetector rule publishes it). A
document with neither is one record, quarantined `no_objects`, so no document goes uncounted.

The object's type is read wherever the standard allows it, in this order: `tt:Class/tt:Type` (the most
likely, when several), `tt:Class/tt:ClassCandidate`, `tt:VehicleInfo/tt:Type`, a `tt:LicensePlateInfo` (a
plate means a vehicle), `tt:HumanFace`, `tt:HumanBody`. A licence-plate object whose `Parent` is an object
of the same frame is that vehicle's plate, not a capture of its own. Frame times are UTC (`UtcTime`), unlike
GA/T 1400's local times, and are converted to Asia/Shanghai, so a frame at 16:30Z belongs to the next local day.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl
from lxml import etree

from xl_pipelines import landing
from xl_pipelines.parsers.gb28181 import PageError, iso_time, local_time, parse_xml

TT = "http://www.onvif.org/ver10/schema"
FILE_NAME = re.compile(r"^(?P<recv>\d{8}T\d{6})\.xml$")
# ONVIF object classes and vehicle types (any case) → capture kinds; other classes (Animal, Other …) are not
# captures the indicators count. A motorcycle is a motor vehicle in Chinese law (GA/T 1400 files it so);
# `Vehical` is the spelling of ONVIF's own 1.0 schema.
CLASSES = {**dict.fromkeys(("vehicle", "vehical", "car", "truck", "largetruck", "bus", "van", "suv", "sedan",
                            "pickup", "motorcycle", "licenseplate"), "motor_vehicle"),
           **dict.fromkeys(("face", "humanface"), "face"), **dict.fromkeys(("human", "person", "humanbody"), "person"),
           **dict.fromkeys(("bike", "bicycle", "tricycle"), "non_motor")}
PLATE_ITEMS = "@Name='PlateNumber' or @Name='LicensePlate' or @Name='PlateNo' or @Name='Plate'"
COLUMNS = ("doc", "utc_raw", "object_ref", "class_type", "likelihood_raw", "plate")
DETAILS = {  # what a quarantine says of a document it cannot read (never the parser's message: it quotes the XML)
    "bad_file_name": "the file name is not <recv>.xml",
    "wrong_encoding": "the document's bytes are not in the encoding it declares",
    "malformed_xml": "the document is not well-formed XML (cut off, or a tag left open)",
    "not_metadata": "the root element is not tt:MetadataStream",
}
_FLATTEN = etree.XSLT(etree.XML(f"""\
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:tt="{TT}">
  <xsl:output method="text" encoding="UTF-8"/>
  <xsl:param name="doc"/>
  <xsl:variable name="lower" select="'abcdefghijklmnopqrstuvwxyz'"/>
  <xsl:variable name="upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"/>
  <xsl:template match="/">
    <xsl:for-each select="tt:MetadataStream/tt:VideoAnalytics/tt:Frame/tt:Object">
      <xsl:variable name="typed"><xsl:call-template name="type"/></xsl:variable>
      <xsl:variable name="type" select="substring-before($typed, '|')"/>
      <xsl:variable name="parent" select="normalize-space(@Parent)"/>
      <xsl:variable name="own" select="normalize-space(tt:Appearance/tt:LicensePlateInfo/tt:PlateNumber)"/>
      <xsl:variable name="child" select="../tt:Object[normalize-space(@Parent) = normalize-space(current()/@ObjectId)]
          [normalize-space(tt:Appearance/tt:LicensePlateInfo/tt:PlateNumber)]"/>
      <xsl:variable name="plate_child" select="$parent != '' and $own != ''
          and ../tt:Object[normalize-space(@ObjectId) = $parent][normalize-space(@Parent) != normalize-space(current()/@ObjectId)]
          and ($type = '' or translate($type, $upper, $lower) = 'licenseplate')"/>
      <xsl:if test="not($plate_child)">
        <xsl:value-of select="$doc"/><xsl:text>&#9;</xsl:text>
        <xsl:value-of select="normalize-space(../@UtcTime)"/><xsl:text>&#9;</xsl:text>
        <xsl:value-of select="normalize-space(@ObjectId)"/><xsl:text>&#9;</xsl:text>
        <xsl:value-of select="$type"/><xsl:text>&#9;</xsl:text>
        <xsl:value-of select="substring-after($typed, '|')"/><xsl:text>&#9;</xsl:text>
        <xsl:choose>
          <xsl:when test="$own != ''"><xsl:value-of select="$own"/></xsl:when>
          <xsl:otherwise>
            <xsl:value-of select="normalize-space($child[1]/tt:Appearance/tt:LicensePlateInfo/tt:PlateNumber)"/>
          </xsl:otherwise>
        </xsl:choose>
        <xsl:text>&#10;</xsl:text>
      </xsl:if>
    </xsl:for-each>
    <xsl:for-each select="tt:MetadataStream/tt:Event//tt:Message[.//tt:SimpleItem[{PLATE_ITEMS}]]">
      <xsl:value-of select="$doc"/><xsl:text>&#9;</xsl:text>
      <xsl:value-of select="normalize-space(@UtcTime)"/><xsl:text>&#9;</xsl:text>
      <xsl:choose>
        <xsl:when test=".//tt:SimpleItem[@Name='ObjectId']">
          <xsl:value-of select="normalize-space(.//tt:SimpleItem[@Name='ObjectId']/@Value)"/></xsl:when>
        <xsl:otherwise>event-<xsl:value-of select="position()"/></xsl:otherwise>
      </xsl:choose><xsl:text>&#9;LicensePlate&#9;</xsl:text>
      <xsl:value-of select="normalize-space(.//tt:SimpleItem[@Name='Likelihood']/@Value)"/><xsl:text>&#9;</xsl:text>
      <xsl:value-of select="normalize-space(.//tt:SimpleItem[{PLATE_ITEMS}]/@Value)"/>
      <xsl:text>&#10;</xsl:text>
    </xsl:for-each>
  </xsl:template>
  <xsl:template name="type">
    <xsl:variable name="a" select="tt:Appearance"/>
    <xsl:choose>
      <xsl:when test="$a/tt:Class/tt:Type[normalize-space()]">
        <xsl:for-each select="$a/tt:Class/tt:Type[normalize-space()]">
          <xsl:sort select="@Likelihood" data-type="number" order="descending"/>
          <xsl:if test="position() = 1"><xsl:value-of select="normalize-space()"/>|<xsl:value-of
              select="normalize-space(@Likelihood | ../tt:Likelihood)"/></xsl:if>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$a/tt:Class/tt:ClassCandidate/tt:Type[normalize-space()]">
        <xsl:for-each select="$a/tt:Class/tt:ClassCandidate[normalize-space(tt:Type)]">
          <xsl:sort select="tt:Likelihood | tt:Type/@Likelihood" data-type="number" order="descending"/>
          <xsl:if test="position() = 1"><xsl:value-of select="normalize-space(tt:Type)"/>|<xsl:value-of
              select="normalize-space(tt:Likelihood | tt:Type/@Likelihood)"/></xsl:if>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$a/tt:VehicleInfo/tt:Type[normalize-space()]">
        <xsl:for-each select="$a/tt:VehicleInfo/tt:Type[normalize-space()]">
          <xsl:sort select="@Likelihood" data-type="number" order="descending"/>
          <xsl:if test="position() = 1"><xsl:value-of select="normalize-space()"/>|<xsl:value-of
              select="normalize-space(@Likelihood)"/></xsl:if>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$a/tt:HumanFace">Face|</xsl:when>
      <xsl:when test="$a/tt:HumanBody">Human|</xsl:when>
      <xsl:otherwise>|</xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>"""))


def metadata_frame(files: list[Path]) -> pl.DataFrame:
    """One row per capture record of the given documents (an unreadable document, or one without any
    record: one row with its `line_reason`)."""
    texts, docs, failed = [], [], []
    for number, path in enumerate(files):
        match = FILE_NAME.match(path.name)
        docs.append({"doc": number, "source_file": str(path), "device_id": path.parent.name,
                     "received_raw": match["recv"] if match else None})
        try:
            if match is None:
                raise PageError("bad_file_name", "")
            root = parse_xml(landing.read_bytes(path))
            if etree.QName(root).localname != "MetadataStream":
                raise PageError("not_metadata", "")
            text = str(_FLATTEN(root.getroottree(), doc=str(number)))
            texts.append(text)
            if not text:
                frames = int(root.xpath("count(//tt:Frame)", namespaces={"tt": TT}))
                events = int(root.xpath("count(//tt:Event//tt:Message)", namespaces={"tt": TT}))
                failed.append({"doc": number, "line_reason": "no_objects", "line_detail":
                               f"no tt:Object and no plate reading ({frames} frames, {events} other event messages)"})
        except PageError as exc:
            failed.append({"doc": number, "line_reason": exc.reason,
                           "line_detail": DETAILS.get(exc.reason, "the document cannot be read")})
    text = "".join(texts)
    objects = pl.read_csv(io.StringIO(text), has_header=False, separator="\t", quote_char=None,
                          schema=dict.fromkeys(COLUMNS, pl.String)).with_columns(pl.col("doc").cast(pl.Int64)) \
        if text else pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String)).with_columns(pl.col("doc").cast(pl.Int64))
    failures = pl.DataFrame(failed, schema={"doc": pl.Int64, "line_reason": pl.String, "line_detail": pl.String})
    frame = pl.concat([objects, failures], how="diagonal").join(
        pl.DataFrame(docs, schema={"doc": pl.Int64, "source_file": pl.String, "device_id": pl.String,
                                   "received_raw": pl.String}), on="doc", how="left")
    frame = frame.sort("doc", maintain_order=True).with_columns(item=pl.int_range(1, pl.len() + 1).over("doc"))
    shot_at = iso_time(pl.col("utc_raw"), "UTC")  # xs:dateTime, UTC unless it has an offset
    plate = pl.col("plate").replace("", None)
    kind = pl.col("class_type").str.to_lowercase().replace_strict(CLASSES, default=None)
    return frame.select(
        "source_file", "item", pl.lit(1, pl.Int64).alias("position"), "line_reason", "line_detail",
        pl.lit("onvif").alias("source"),
        pl.when(kind.is_null() & plate.is_not_null()).then(pl.lit("motor_vehicle")).otherwise(kind).alias("kind"),
        pl.col("object_ref").replace("", None).alias("object_id"), "device_id",
        local_time(pl.col("received_raw"), "%Y%m%dT%H%M%S").alias("received_at"),
        pl.col("utc_raw").alias("shot_raw"), shot_at.alias("shot_at"),
        pl.lit(None, pl.Boolean).alias("id_time_ok"), pl.lit(None, pl.Int8).alias("info_kind"),
        plate.alias("plate"), pl.lit(None, pl.String).alias("id_number"),
        *(pl.lit(None, pl.String).alias(c) for c in ("plate_color", "vehicle_color", "vehicle_class")),
        pl.lit(None, pl.Float64).alias("speed_kmh"), pl.lit(None, pl.String).alias("direction"),
        pl.lit(None, pl.String).alias("tollgate_id"), pl.lit(None, pl.Int16).alias("lane_no"),
        pl.lit(0, pl.Int16).alias("images"), pl.col("likelihood_raw").cast(pl.Float64, strict=False).alias("likelihood"),
    )
