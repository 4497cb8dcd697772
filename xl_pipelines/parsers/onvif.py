"""ONVIF MetadataStream documents (`onvif/<date>/<code>/<channel_id>/<recv>.xml`): the international
counterpart of GA/T 1400 captures, from cameras whose analytics speak ONVIF.

One XSLT (libxslt, in C) flattens each document to tab-separated text, one line per `tt:Frame/tt:Object`;
Polars reads all the documents' text at once. Frame times are UTC (`UtcTime`), unlike GA/T 1400's local
times, and are converted to Asia/Shanghai, so a frame at 16:30Z belongs to the next local day.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl
from lxml import etree

from xl_pipelines import landing
from xl_pipelines.parsers.gb28181 import PageError, local_time, parse_xml
from xl_pipelines.settings import LOCAL_TZ

TT = "http://www.onvif.org/ver10/schema"
FILE_NAME = re.compile(r"^(?P<recv>\d{8}T\d{6})\.xml$")
# ONVIF object classes → capture kinds; other classes (Animal, …) are not captures the indicators count.
CLASSES = {"vehicle": "motor_vehicle", "car": "motor_vehicle", "truck": "motor_vehicle", "bus": "motor_vehicle",
           "face": "face", "human": "person", "person": "person", "bike": "non_motor", "bicycle": "non_motor",
           "motorcycle": "non_motor"}
COLUMNS = ("doc", "utc_raw", "object_ref", "class_type", "likelihood_raw", "plate")
_FLATTEN = etree.XSLT(etree.XML(f"""\
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:tt="{TT}">
  <xsl:output method="text" encoding="UTF-8"/>
  <xsl:param name="doc"/>
  <xsl:template match="/">
    <xsl:for-each select="tt:MetadataStream/tt:VideoAnalytics/tt:Frame/tt:Object">
      <xsl:variable name="type" select="(tt:Appearance/tt:Class/tt:Type | tt:Appearance/tt:Class/tt:ClassCandidate/tt:Type)[1]"/>
      <xsl:value-of select="$doc"/><xsl:text>&#9;</xsl:text>
      <xsl:value-of select="normalize-space(../@UtcTime)"/><xsl:text>&#9;</xsl:text>
      <xsl:value-of select="normalize-space(@ObjectId)"/><xsl:text>&#9;</xsl:text>
      <xsl:value-of select="normalize-space($type)"/><xsl:text>&#9;</xsl:text>
      <xsl:value-of select="normalize-space($type/@Likelihood | $type/../tt:Likelihood)"/><xsl:text>&#9;</xsl:text>
      <xsl:value-of select="normalize-space(tt:Appearance/tt:LicensePlateInfo/tt:PlateNumber)"/>
      <xsl:text>&#10;</xsl:text>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>"""))


def metadata_frame(files: list[Path]) -> pl.DataFrame:
    """One row per object of the given documents (an unreadable document: one row with its `line_reason`)."""
    texts, docs, failed = [], [], []
    for number, path in enumerate(files):
        match = FILE_NAME.match(path.name)
        docs.append({"doc": number, "source_file": str(path), "device_id": path.parent.name,
                     "received_raw": match["recv"] if match else None})
        try:
            if match is None:
                raise PageError("bad_file_name", "file name is not <recv>.xml")
            root = parse_xml(landing.read_bytes(path))
            if etree.QName(root).localname != "MetadataStream":
                raise PageError("not_metadata", f"root <{etree.QName(root).localname}> is not tt:MetadataStream")
            texts.append(str(_FLATTEN(root.getroottree(), doc=str(number))))
        except PageError as exc:
            failed.append({"doc": number, "line_reason": exc.reason, "line_detail": str(exc)[:300]})
    text = "".join(texts)
    objects = pl.read_csv(io.StringIO(text), has_header=False, separator="\t", quote_char=None,
                          schema=dict.fromkeys(COLUMNS, pl.String)).with_columns(pl.col("doc").cast(pl.Int64)) \
        if text else pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String)).with_columns(pl.col("doc").cast(pl.Int64))
    failures = pl.DataFrame(failed, schema={"doc": pl.Int64, "line_reason": pl.String, "line_detail": pl.String})
    frame = pl.concat([objects, failures], how="diagonal").join(
        pl.DataFrame(docs, schema={"doc": pl.Int64, "source_file": pl.String, "device_id": pl.String,
                                   "received_raw": pl.String}), on="doc", how="left")
    frame = frame.sort("doc", maintain_order=True).with_columns(item=pl.int_range(1, pl.len() + 1).over("doc"))
    shot_at = utc_time(pl.col("utc_raw"))
    return frame.select(
        "source_file", "item", pl.lit(1, pl.Int64).alias("position"), "line_reason", "line_detail",
        pl.lit("onvif").alias("source"),
        pl.col("class_type").str.to_lowercase().replace_strict(CLASSES, default=None).alias("kind"),
        pl.col("object_ref").alias("object_id"), "device_id",
        local_time(pl.col("received_raw"), "%Y%m%dT%H%M%S").alias("received_at"),
        pl.col("utc_raw").alias("shot_raw"), shot_at.alias("shot_at"),
        pl.lit(None, pl.Boolean).alias("id_time_ok"), pl.lit(None, pl.Int8).alias("info_kind"),
        "plate", pl.lit(None, pl.String).alias("id_number"),
        *(pl.lit(None, pl.String).alias(c) for c in ("plate_color", "vehicle_color", "vehicle_class")),
        pl.lit(None, pl.Float64).alias("speed_kmh"), pl.lit(None, pl.String).alias("direction"),
        pl.lit(None, pl.String).alias("tollgate_id"), pl.lit(None, pl.Int16).alias("lane_no"),
        pl.lit(0, pl.Int16).alias("images"), pl.col("likelihood_raw").cast(pl.Float64, strict=False).alias("likelihood"),
    )


def utc_time(raw: pl.Expr) -> pl.Expr:
    """xs:dateTime in UTC (`2026-11-20T16:30:00.120Z`; ONVIF writes UTC even without the Z) → Asia/Shanghai."""
    bare = raw.str.replace(r"(Z|\+00:00)$", "")
    return bare.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone(
        "UTC").dt.convert_time_zone(str(LOCAL_TZ))
