//! The function registry: ksqlDB's scalar functions with their signatures,
//! overload resolution and evaluation, and the names of the aggregate
//! functions (whose state lives in the engine).
//!
//! Resolution picks the return type from the argument types and says which
//! arguments to widen, so evaluation sees values of the declared types.
//!
//! ```
//! use ddsql_sql::functions::{resolve, ScalarFunc};
//! use ddsql_sql::types::{SqlType, Value};
//! let r = resolve("substring", &[Some(SqlType::String), Some(SqlType::Int)]).unwrap();
//! assert_eq!((r.func, r.ty.clone()), (ScalarFunc::Substring, SqlType::String));
//! let v = r.func.eval(&[Value::String("hello".into()), Value::Int(2)]).unwrap();
//! assert_eq!(v, Value::String("ello".into()));
//! ```

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::eval::{self, EvalError};
use crate::types::{SqlType, Value, F64};

/// A scalar function the engine can evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScalarFunc {
    Abs,
    Ceil,
    Floor,
    Round,
    Sqrt,
    Exp,
    Ln,
    Power,
    Sign,
    Greatest,
    Least,
    Concat,
    ConcatWs,
    Substring,
    Len,
    Ucase,
    Lcase,
    Trim,
    Ltrim,
    Rtrim,
    Replace,
    Initcap,
    Instr,
    Lpad,
    Rpad,
    Split,
    Coalesce,
    Ifnull,
    Nullif,
    ExtractJsonField,
    IsJsonString,
    RegexpReplace,
    RegexpExtract,
    RegexpExtractAll,
    RegexpSplitToArray,
    ArrayLength,
    ArrayContains,
    ArrayJoin,
    ArrayMin,
    ArrayMax,
    GenerateSeries,
    Entries,
    MapKeys,
    MapValues,
    AsValue,
    ToBytes,
    FromBytes,
    UnixTimestamp,
    // Trigonometry and more arithmetic.
    Acos,
    Asin,
    Atan,
    Atan2,
    Cos,
    Cosh,
    Cot,
    Sin,
    Sinh,
    Tan,
    Tanh,
    Cbrt,
    Degrees,
    Radians,
    Log,
    Pi,
    Random,
    Trunc,
    GeoDistance,
    // Text, JSON, URLs and bytes (`text.rs`).
    Chr,
    Encode,
    Mask,
    MaskLeft,
    MaskRight,
    MaskKeepLeft,
    MaskKeepRight,
    Md5,
    Uuid,
    SplitToMap,
    Elt,
    Field,
    JsonArrayContains,
    JsonArrayLength,
    JsonConcat,
    JsonKeys,
    JsonRecords,
    JsonItems,
    UrlDecodeParam,
    UrlEncodeParam,
    UrlExtractFragment,
    UrlExtractHost,
    UrlExtractParameter,
    UrlExtractPath,
    UrlExtractPort,
    UrlExtractProtocol,
    UrlExtractQuery,
    IntFromBytes,
    BigIntFromBytes,
    DoubleFromBytes,
    // Collections (`collections.rs`).
    ArrayConcat,
    ArrayDistinct,
    ArrayExcept,
    ArrayIntersect,
    ArrayRemove,
    ArraySort,
    ArrayUnion,
    AsMap,
    MapUnion,
    Slice,
    // Dates and times (`datetime.rs`).
    ParseDate,
    ParseTime,
    ParseTimestamp,
    FormatDate,
    FormatTime,
    FormatTimestamp,
    StringToDate,
    StringToTimestamp,
    DateToString,
    TimestampToString,
    ConvertTz,
    FromUnixtime,
    FromDays,
    UnixDate,
    DateAdd,
    DateSub,
    TimeAdd,
    TimeSub,
    TimestampAdd,
    TimestampSub,
}

mod collections;
pub mod datetime;
mod text;

/// The functions whose first argument is a time unit keyword
/// (`TIMESTAMPADD(SECONDS, 5, ts)`); the binder passes the unit as text.
pub const TIME_UNIT_FUNCTIONS: &[&str] = &[
    "DATEADD",
    "DATESUB",
    "TIMEADD",
    "TIMESUB",
    "TIMESTAMPADD",
    "TIMESTAMPSUB",
];

/// What a function is, for `SHOW FUNCTIONS` and `DESCRIBE FUNCTION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionKind {
    Scalar,
    Aggregate,
    /// One row in, any number out (EXPLODE).
    Table,
}

impl FunctionKind {
    /// The name ksqlDB's `DESCRIBE FUNCTION` and `SHOW FUNCTIONS` give.
    pub fn name(self) -> &'static str {
        match self {
            FunctionKind::Scalar => "SCALAR",
            FunctionKind::Aggregate => "AGGREGATE",
            FunctionKind::Table => "TABLE",
        }
    }
}

#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: &'static str,
    pub kind: FunctionKind,
    pub signatures: &'static [&'static str],
    pub description: &'static str,
}

macro_rules! info {
    ($name:expr, $kind:ident, [$($sig:expr),* $(,)?], $desc:expr) => {
        FunctionInfo { name: $name, kind: FunctionKind::$kind, signatures: &[$($sig),*], description: $desc }
    };
}

/// Every function the binder knows, sorted by name.
pub fn registry() -> &'static [FunctionInfo] {
    static REGISTRY: OnceLock<Vec<FunctionInfo>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut v = vec![
            info!("ABS", Scalar, ["ABS(number)"], "The absolute value."),
            info!(
                "CEIL",
                Scalar,
                ["CEIL(number)"],
                "The smallest whole number not below the argument."
            ),
            info!(
                "FLOOR",
                Scalar,
                ["FLOOR(number)"],
                "The largest whole number not above the argument."
            ),
            info!(
                "ROUND",
                Scalar,
                ["ROUND(number)", "ROUND(number, INT digits)"],
                "Rounds half away from zero."
            ),
            info!(
                "SQRT",
                Scalar,
                ["SQRT(number)"],
                "The square root, as a DOUBLE."
            ),
            info!(
                "EXP",
                Scalar,
                ["EXP(number)"],
                "e raised to the argument, as a DOUBLE."
            ),
            info!(
                "LN",
                Scalar,
                ["LN(number)"],
                "The natural logarithm, as a DOUBLE."
            ),
            info!(
                "POWER",
                Scalar,
                ["POWER(number, number)"],
                "The first argument raised to the second."
            ),
            info!("SIGN", Scalar, ["SIGN(number)"], "-1, 0 or 1."),
            info!(
                "GREATEST",
                Scalar,
                ["GREATEST(value, value...)"],
                "The largest non-NULL argument."
            ),
            info!(
                "LEAST",
                Scalar,
                ["LEAST(value, value...)"],
                "The smallest non-NULL argument."
            ),
            info!(
                "CONCAT",
                Scalar,
                ["CONCAT(STRING...)"],
                "Joins strings; NULLs are skipped."
            ),
            info!(
                "CONCAT_WS",
                Scalar,
                ["CONCAT_WS(STRING separator, STRING...)", "CONCAT_WS(BYTES separator, BYTES...)"],
                "Joins strings or bytes with a separator; NULLs are skipped."
            ),
            info!(
                "SUBSTRING",
                Scalar,
                [
                    "SUBSTRING(STRING, INT pos)",
                    "SUBSTRING(STRING, INT pos, INT length)",
                    "SUBSTRING(BYTES, INT pos)",
                    "SUBSTRING(BYTES, INT pos, INT length)"
                ],
                "Characters from 1-based `pos` (negative counts from the end)."
            ),
            info!("LEN", Scalar, ["LEN(STRING)", "LEN(BYTES)"], "The number of characters, or of bytes."),
            info!("UCASE", Scalar, ["UCASE(STRING)"], "Upper case."),
            info!("LCASE", Scalar, ["LCASE(STRING)"], "Lower case."),
            info!(
                "TRIM",
                Scalar,
                ["TRIM(STRING)"],
                "Removes leading and trailing white space."
            ),
            info!(
                "LTRIM",
                Scalar,
                ["LTRIM(STRING)"],
                "Removes leading white space."
            ),
            info!(
                "RTRIM",
                Scalar,
                ["RTRIM(STRING)"],
                "Removes trailing white space."
            ),
            info!(
                "REPLACE",
                Scalar,
                ["REPLACE(STRING, STRING old, STRING new)"],
                "Replaces every occurrence of `old`."
            ),
            info!(
                "INITCAP",
                Scalar,
                ["INITCAP(STRING)"],
                "Capitalises the first letter of each word."
            ),
            info!(
                "INSTR",
                Scalar,
                [
                    "INSTR(STRING, STRING substring)",
                    "INSTR(STRING, STRING substring, INT position)",
                    "INSTR(STRING, STRING substring, INT position, INT occurrence)"
                ],
                "1-based position of the occurrence-th occurrence from position (a negative position searches back from the end), 0 if none."
            ),
            info!(
                "LPAD",
                Scalar,
                ["LPAD(STRING, INT length, STRING padding)", "LPAD(BYTES, INT length, BYTES padding)"],
                "Pads on the left to `length`."
            ),
            info!(
                "RPAD",
                Scalar,
                ["RPAD(STRING, INT length, STRING padding)", "RPAD(BYTES, INT length, BYTES padding)"],
                "Pads on the right to `length`."
            ),
            info!(
                "SPLIT",
                Scalar,
                ["SPLIT(STRING, STRING delimiter)", "SPLIT(BYTES, BYTES delimiter)"],
                "Splits into an ARRAY<STRING>, or bytes into an ARRAY<BYTES>."
            ),
            info!(
                "COALESCE",
                Scalar,
                ["COALESCE(value, value...)"],
                "The first non-NULL argument."
            ),
            info!(
                "IFNULL",
                Scalar,
                ["IFNULL(value, value)"],
                "The second argument when the first is NULL."
            ),
            info!(
                "NULLIF",
                Scalar,
                ["NULLIF(value, value)"],
                "NULL when the arguments are equal, else the first."
            ),
            info!(
                "EXTRACTJSONFIELD",
                Scalar,
                ["EXTRACTJSONFIELD(STRING json, STRING path)"],
                "The field at a JSONPath (`$.a.b[0]`) of a JSON string, as a string."
            ),
            info!(
                "IS_JSON_STRING",
                Scalar,
                ["IS_JSON_STRING(STRING)"],
                "Whether the string is valid JSON."
            ),
            info!(
                "REGEXP_REPLACE",
                Scalar,
                ["REGEXP_REPLACE(STRING, STRING regex, STRING replacement)"],
                "Replaces every match of the regular expression."
            ),
            info!(
                "REGEXP_EXTRACT",
                Scalar,
                [
                    "REGEXP_EXTRACT(STRING regex, STRING)",
                    "REGEXP_EXTRACT(STRING regex, STRING, INT group)"
                ],
                "The first match (or capture group)."
            ),
            info!(
                "REGEXP_EXTRACT_ALL",
                Scalar,
                [
                    "REGEXP_EXTRACT_ALL(STRING regex, STRING)",
                    "REGEXP_EXTRACT_ALL(STRING regex, STRING, INT group)"
                ],
                "Every match (or capture group)."
            ),
            info!(
                "REGEXP_SPLIT_TO_ARRAY",
                Scalar,
                ["REGEXP_SPLIT_TO_ARRAY(STRING, STRING regex)"],
                "Splits on the regular expression."
            ),
            info!(
                "ARRAY_LENGTH",
                Scalar,
                ["ARRAY_LENGTH(ARRAY)"],
                "The number of elements."
            ),
            info!(
                "ARRAY_CONTAINS",
                Scalar,
                ["ARRAY_CONTAINS(ARRAY, value)"],
                "Whether the array holds the value."
            ),
            info!(
                "ARRAY_JOIN",
                Scalar,
                ["ARRAY_JOIN(ARRAY)", "ARRAY_JOIN(ARRAY, STRING delimiter)"],
                "Joins the elements' text with a delimiter (default ',')."
            ),
            info!(
                "ARRAY_MIN",
                Scalar,
                ["ARRAY_MIN(ARRAY)"],
                "The least element that is not NULL (NULL for an empty array)."
            ),
            info!(
                "ARRAY_MAX",
                Scalar,
                ["ARRAY_MAX(ARRAY)"],
                "The greatest element that is not NULL (NULL for an empty array)."
            ),
            info!(
                "GENERATE_SERIES",
                Scalar,
                ["GENERATE_SERIES(INT start, INT end)", "GENERATE_SERIES(INT start, INT end, INT step)", "GENERATE_SERIES(BIGINT start, BIGINT end[, BIGINT step])"],
                "The numbers from start to end inclusive, counting by step (1, or -1 when end is below start)."
            ),
            info!(
                "ENTRIES",
                Scalar,
                ["ENTRIES(MAP<STRING, V>, BOOLEAN sorted)"],
                "The map's entries as an array of STRUCT<K STRING, V V>, in key order when sorted is true."
            ),
            info!(
                "MAP_KEYS",
                Scalar,
                ["MAP_KEYS(MAP)"],
                "The keys, as an array."
            ),
            info!(
                "MAP_VALUES",
                Scalar,
                ["MAP_VALUES(MAP)"],
                "The values, as an array."
            ),
            info!(
                "AS_VALUE",
                Scalar,
                ["AS_VALUE(value)"],
                "Copies a key column into the value."
            ),
            info!(
                "TO_BYTES",
                Scalar,
                ["TO_BYTES(STRING, STRING encoding)"],
                "Decodes a hex, utf8, ascii or base64 string to BYTES."
            ),
            info!(
                "FROM_BYTES",
                Scalar,
                ["FROM_BYTES(BYTES, STRING encoding)"],
                "Encodes BYTES as hex, utf8, ascii or base64."
            ),
            info!(
                "UNIX_TIMESTAMP",
                Scalar,
                ["UNIX_TIMESTAMP()", "UNIX_TIMESTAMP(TIMESTAMP)"],
                "Milliseconds since the epoch."
            ),
            info!(
                "ACOS",
                Scalar,
                ["ACOS(number)"],
                "The inverse cosine, in radians."
            ),
            info!(
                "ASIN",
                Scalar,
                ["ASIN(number)"],
                "The inverse sine, in radians."
            ),
            info!(
                "ATAN",
                Scalar,
                ["ATAN(number)"],
                "The inverse tangent, in radians."
            ),
            info!(
                "ATAN2",
                Scalar,
                ["ATAN2(number y, number x)"],
                "The angle of the point (x, y), in radians."
            ),
            info!(
                "COS",
                Scalar,
                ["COS(number radians)"],
                "The cosine."
            ),
            info!(
                "COSH",
                Scalar,
                ["COSH(number)"],
                "The hyperbolic cosine."
            ),
            info!(
                "COT",
                Scalar,
                ["COT(number radians)"],
                "The cotangent."
            ),
            info!(
                "SIN",
                Scalar,
                ["SIN(number radians)"],
                "The sine."
            ),
            info!(
                "SINH",
                Scalar,
                ["SINH(number)"],
                "The hyperbolic sine."
            ),
            info!(
                "TAN",
                Scalar,
                ["TAN(number radians)"],
                "The tangent."
            ),
            info!(
                "TANH",
                Scalar,
                ["TANH(number)"],
                "The hyperbolic tangent."
            ),
            info!(
                "CBRT",
                Scalar,
                ["CBRT(number)"],
                "The cube root, as a DOUBLE."
            ),
            info!(
                "DEGREES",
                Scalar,
                ["DEGREES(number radians)"],
                "Radians converted to degrees."
            ),
            info!(
                "RADIANS",
                Scalar,
                ["RADIANS(number degrees)"],
                "Degrees converted to radians."
            ),
            info!(
                "LOG",
                Scalar,
                ["LOG(number)", "LOG(number base, number)"],
                "The natural logarithm, or the logarithm in a base."
            ),
            info!(
                "PI",
                Scalar,
                ["PI()"],
                "The constant pi."
            ),
            info!(
                "RANDOM",
                Scalar,
                ["RANDOM()"],
                "A number in [0, 1), the same for the same input row, so retractions and restarts agree."
            ),
            info!(
                "TRUNC",
                Scalar,
                ["TRUNC(number)", "TRUNC(number, INT digits)"],
                "Cuts digits off toward zero."
            ),
            info!(
                "GEO_DISTANCE",
                Scalar,
                ["GEO_DISTANCE(lat1, lon1, lat2, lon2)", "GEO_DISTANCE(lat1, lon1, lat2, lon2, STRING 'KM'|'MI')"],
                "The great-circle distance between two points, in kilometres (default) or miles."
            ),
            info!(
                "CHR",
                Scalar,
                ["CHR(INT code)", "CHR(STRING '\\uXXXX')"],
                "The character with a Unicode code point."
            ),
            info!(
                "ENCODE",
                Scalar,
                ["ENCODE(STRING, STRING from, STRING to)"],
                "Re-encodes text between hex, utf8, ascii and base64."
            ),
            info!(
                "MASK",
                Scalar,
                ["MASK(STRING)", "MASK(STRING, upper, lower, digit, other)"],
                "Replaces upper-case letters with X, lower-case with x, digits with n and others with - (or the given characters; NULL keeps a class)."
            ),
            info!(
                "MASK_LEFT",
                Scalar,
                ["MASK_LEFT(STRING, INT n)", "MASK_LEFT(STRING, INT n, upper, lower, digit, other)"],
                "Masks the first n characters."
            ),
            info!(
                "MASK_RIGHT",
                Scalar,
                ["MASK_RIGHT(STRING, INT n)", "MASK_RIGHT(STRING, INT n, upper, lower, digit, other)"],
                "Masks the last n characters."
            ),
            info!(
                "MASK_KEEP_LEFT",
                Scalar,
                ["MASK_KEEP_LEFT(STRING, INT n)", "MASK_KEEP_LEFT(STRING, INT n, upper, lower, digit, other)"],
                "Masks all but the first n characters."
            ),
            info!(
                "MASK_KEEP_RIGHT",
                Scalar,
                ["MASK_KEEP_RIGHT(STRING, INT n)", "MASK_KEEP_RIGHT(STRING, INT n, upper, lower, digit, other)"],
                "Masks all but the last n characters."
            ),
            info!(
                "MD5",
                Scalar,
                ["MD5(STRING)"],
                "The MD5 digest of the UTF-8 text, in hex."
            ),
            info!(
                "UUID",
                Scalar,
                ["UUID()", "UUID(BYTES)"],
                "A version-4 UUID, the same for the same input row; or the UUID of 16 bytes."
            ),
            info!(
                "SPLIT_TO_MAP",
                Scalar,
                ["SPLIT_TO_MAP(STRING, STRING entry_delimiter, STRING kv_delimiter)"],
                "Splits text into a MAP<STRING, STRING>."
            ),
            info!(
                "ELT",
                Scalar,
                ["ELT(INT n, STRING...)"],
                "The n-th string (1-based), or NULL."
            ),
            info!(
                "FIELD",
                Scalar,
                ["FIELD(STRING, STRING...)"],
                "The 1-based position of the first string among the others, or 0."
            ),
            info!(
                "JSON_ARRAY_CONTAINS",
                Scalar,
                ["JSON_ARRAY_CONTAINS(STRING json, value)"],
                "Whether a JSON array holds the value."
            ),
            info!(
                "JSON_ARRAY_LENGTH",
                Scalar,
                ["JSON_ARRAY_LENGTH(STRING json)"],
                "The number of elements of a JSON array."
            ),
            info!(
                "JSON_CONCAT",
                Scalar,
                ["JSON_CONCAT(STRING json, STRING json...)"],
                "Merges JSON objects, or concatenates arrays."
            ),
            info!(
                "JSON_KEYS",
                Scalar,
                ["JSON_KEYS(STRING json)"],
                "The keys of a JSON object."
            ),
            info!(
                "JSON_RECORDS",
                Scalar,
                ["JSON_RECORDS(STRING json)"],
                "A JSON object's entries, as a MAP<STRING, STRING> of JSON texts."
            ),
            info!(
                "JSON_ITEMS",
                Scalar,
                ["JSON_ITEMS(STRING json)"],
                "A JSON array's elements, as JSON texts."
            ),
            info!(
                "URL_DECODE_PARAM",
                Scalar,
                ["URL_DECODE_PARAM(STRING)"],
                "Decodes application/x-www-form-urlencoded text."
            ),
            info!(
                "URL_ENCODE_PARAM",
                Scalar,
                ["URL_ENCODE_PARAM(STRING)"],
                "Encodes text as application/x-www-form-urlencoded."
            ),
            info!(
                "URL_EXTRACT_FRAGMENT",
                Scalar,
                ["URL_EXTRACT_FRAGMENT(STRING url)"],
                "The fragment of a URL."
            ),
            info!(
                "URL_EXTRACT_HOST",
                Scalar,
                ["URL_EXTRACT_HOST(STRING url)"],
                "The host of a URL."
            ),
            info!(
                "URL_EXTRACT_PARAMETER",
                Scalar,
                ["URL_EXTRACT_PARAMETER(STRING url, STRING name)"],
                "The decoded value of a query parameter."
            ),
            info!(
                "URL_EXTRACT_PATH",
                Scalar,
                ["URL_EXTRACT_PATH(STRING url)"],
                "The path of a URL."
            ),
            info!(
                "URL_EXTRACT_PORT",
                Scalar,
                ["URL_EXTRACT_PORT(STRING url)"],
                "The explicit port of a URL."
            ),
            info!(
                "URL_EXTRACT_PROTOCOL",
                Scalar,
                ["URL_EXTRACT_PROTOCOL(STRING url)"],
                "The scheme of a URL."
            ),
            info!(
                "URL_EXTRACT_QUERY",
                Scalar,
                ["URL_EXTRACT_QUERY(STRING url)"],
                "The query of a URL."
            ),
            info!(
                "INT_FROM_BYTES",
                Scalar,
                ["INT_FROM_BYTES(BYTES)", "INT_FROM_BYTES(BYTES, STRING byte_order)"],
                "Reads 4 bytes as an INT (BIG_ENDIAN or LITTLE_ENDIAN)."
            ),
            info!(
                "BIGINT_FROM_BYTES",
                Scalar,
                ["BIGINT_FROM_BYTES(BYTES)", "BIGINT_FROM_BYTES(BYTES, STRING byte_order)"],
                "Reads 8 bytes as a BIGINT."
            ),
            info!(
                "DOUBLE_FROM_BYTES",
                Scalar,
                ["DOUBLE_FROM_BYTES(BYTES)", "DOUBLE_FROM_BYTES(BYTES, STRING byte_order)"],
                "Reads 8 bytes as a DOUBLE."
            ),
            info!(
                "ARRAY_CONCAT",
                Scalar,
                ["ARRAY_CONCAT(ARRAY, ARRAY)"],
                "The elements of both arrays."
            ),
            info!(
                "ARRAY_DISTINCT",
                Scalar,
                ["ARRAY_DISTINCT(ARRAY)"],
                "The distinct elements, in first-seen order."
            ),
            info!(
                "ARRAY_EXCEPT",
                Scalar,
                ["ARRAY_EXCEPT(ARRAY, ARRAY)"],
                "The distinct elements of the first array that are not in the second."
            ),
            info!(
                "ARRAY_INTERSECT",
                Scalar,
                ["ARRAY_INTERSECT(ARRAY, ARRAY)"],
                "The distinct elements in both arrays."
            ),
            info!(
                "ARRAY_REMOVE",
                Scalar,
                ["ARRAY_REMOVE(ARRAY, value)"],
                "The array without the value."
            ),
            info!(
                "ARRAY_SORT",
                Scalar,
                ["ARRAY_SORT(ARRAY)", "ARRAY_SORT(ARRAY, STRING 'ASC'|'DESC')"],
                "The elements sorted, NULLs last."
            ),
            info!(
                "ARRAY_UNION",
                Scalar,
                ["ARRAY_UNION(ARRAY, ARRAY)"],
                "The distinct elements of either array."
            ),
            info!(
                "AS_MAP",
                Scalar,
                ["AS_MAP(ARRAY<STRING> keys, ARRAY values)"],
                "A map from keys to the values at the same positions."
            ),
            info!(
                "MAP_UNION",
                Scalar,
                ["MAP_UNION(MAP, MAP...)"],
                "The entries of all maps; later maps win."
            ),
            info!(
                "SLICE",
                Scalar,
                ["SLICE(ARRAY, INT from, INT to)"],
                "The elements from one 1-based position to another, inclusive."
            ),
            info!(
                "PARSE_DATE",
                Scalar,
                ["PARSE_DATE(STRING, STRING pattern)"],
                "Reads a DATE with a Java DateTimeFormatter pattern."
            ),
            info!(
                "PARSE_TIME",
                Scalar,
                ["PARSE_TIME(STRING, STRING pattern)"],
                "Reads a TIME with a Java DateTimeFormatter pattern."
            ),
            info!(
                "PARSE_TIMESTAMP",
                Scalar,
                ["PARSE_TIMESTAMP(STRING, STRING pattern)", "PARSE_TIMESTAMP(STRING, STRING pattern, STRING zone)"],
                "Reads a TIMESTAMP with a Java DateTimeFormatter pattern, in UTC or the zone."
            ),
            info!(
                "FORMAT_DATE",
                Scalar,
                ["FORMAT_DATE(DATE, STRING pattern)"],
                "Writes a DATE with a Java DateTimeFormatter pattern."
            ),
            info!(
                "FORMAT_TIME",
                Scalar,
                ["FORMAT_TIME(TIME, STRING pattern)"],
                "Writes a TIME with a Java DateTimeFormatter pattern."
            ),
            info!(
                "FORMAT_TIMESTAMP",
                Scalar,
                ["FORMAT_TIMESTAMP(TIMESTAMP, STRING pattern)", "FORMAT_TIMESTAMP(TIMESTAMP, STRING pattern, STRING zone)"],
                "Writes a TIMESTAMP with a Java DateTimeFormatter pattern, in UTC or the zone."
            ),
            info!(
                "STRINGTODATE",
                Scalar,
                ["STRINGTODATE(STRING, STRING pattern)"],
                "Deprecated: days since the epoch of a date read with a pattern."
            ),
            info!(
                "STRINGTOTIMESTAMP",
                Scalar,
                ["STRINGTOTIMESTAMP(STRING, STRING pattern)", "STRINGTOTIMESTAMP(STRING, STRING pattern, STRING zone)"],
                "Deprecated: milliseconds since the epoch of a timestamp read with a pattern."
            ),
            info!(
                "DATETOSTRING",
                Scalar,
                ["DATETOSTRING(INT days, STRING pattern)"],
                "Deprecated: writes days since the epoch with a pattern."
            ),
            info!(
                "TIMESTAMPTOSTRING",
                Scalar,
                ["TIMESTAMPTOSTRING(BIGINT ms, STRING pattern)", "TIMESTAMPTOSTRING(BIGINT ms, STRING pattern, STRING zone)"],
                "Deprecated: writes milliseconds since the epoch with a pattern."
            ),
            info!(
                "CONVERT_TZ",
                Scalar,
                ["CONVERT_TZ(TIMESTAMP, STRING from_zone, STRING to_zone)"],
                "Moves a wall-clock reading from one zone to another."
            ),
            info!(
                "FROM_UNIXTIME",
                Scalar,
                ["FROM_UNIXTIME(BIGINT ms)"],
                "The TIMESTAMP of milliseconds since the epoch."
            ),
            info!(
                "FROM_DAYS",
                Scalar,
                ["FROM_DAYS(INT days)"],
                "The DATE of days since the epoch."
            ),
            info!(
                "UNIX_DATE",
                Scalar,
                ["UNIX_DATE()", "UNIX_DATE(DATE)"],
                "Days since the epoch (of today, without an argument)."
            ),
            info!(
                "DATEADD",
                Scalar,
                ["DATEADD(unit, INT n, DATE)"],
                "Adds n units (MILLISECONDS to DAYS) to a date."
            ),
            info!(
                "DATESUB",
                Scalar,
                ["DATESUB(unit, INT n, DATE)"],
                "Subtracts n units from a date."
            ),
            info!(
                "TIMEADD",
                Scalar,
                ["TIMEADD(unit, INT n, TIME)"],
                "Adds n units to a time, wrapping at midnight."
            ),
            info!(
                "TIMESUB",
                Scalar,
                ["TIMESUB(unit, INT n, TIME)"],
                "Subtracts n units from a time, wrapping at midnight."
            ),
            info!(
                "TIMESTAMPADD",
                Scalar,
                ["TIMESTAMPADD(unit, BIGINT n, TIMESTAMP)"],
                "Adds n units to a timestamp."
            ),
            info!(
                "TIMESTAMPSUB",
                Scalar,
                ["TIMESTAMPSUB(unit, BIGINT n, TIMESTAMP)"],
                "Subtracts n units from a timestamp."
            ),
            info!(
                "TO_JSON_STRING",
                Scalar,
                ["TO_JSON_STRING(value)"],
                "The value as JSON text."
            ),
            info!(
                "TRANSFORM",
                Scalar,
                ["TRANSFORM(ARRAY, x => expr)", "TRANSFORM(MAP, (k, v) => key_expr, (k, v) => value_expr)"],
                "Maps each element or entry with lambdas."
            ),
            info!(
                "FILTER",
                Scalar,
                ["FILTER(ARRAY, x => BOOLEAN)", "FILTER(MAP, (k, v) => BOOLEAN)"],
                "Keeps the elements or entries a lambda accepts."
            ),
            info!(
                "REDUCE",
                Scalar,
                ["REDUCE(ARRAY, initial, (state, x) => expr)", "REDUCE(MAP, initial, (state, k, v) => expr)"],
                "Folds the elements or entries into one value."
            ),
            info!(
                "EXPLODE",
                Table,
                ["EXPLODE(ARRAY)"],
                "One row per element of the array."
            ),
            info!(
                "CUBE_EXPLODE",
                Table,
                ["CUBE_EXPLODE(ARRAY)"],
                "One row per combination of the elements and NULLs (the grouping sets of a cube)."
            ),
            info!(
                "COUNT",
                Aggregate,
                ["COUNT(*)", "COUNT(value)"],
                "The number of rows (of non-NULL values)."
            ),
            info!("SUM", Aggregate, ["SUM(number)"], "The sum."),
            info!("MIN", Aggregate, ["MIN(value)"], "The smallest value."),
            info!("MAX", Aggregate, ["MAX(value)"], "The largest value."),
            info!("AVG", Aggregate, ["AVG(number)"], "The mean, as a DOUBLE."),
            info!(
                "LATEST_BY_OFFSET",
                Aggregate,
                [
                    "LATEST_BY_OFFSET(value)",
                    "LATEST_BY_OFFSET(value, BOOLEAN ignore_nulls)",
                    "LATEST_BY_OFFSET(value, INT n)",
                    "LATEST_BY_OFFSET(value, INT n, BOOLEAN ignore_nulls)"
                ],
                "The latest value, or an array of the latest n (oldest first)."
            ),
            info!(
                "EARLIEST_BY_OFFSET",
                Aggregate,
                [
                    "EARLIEST_BY_OFFSET(value)",
                    "EARLIEST_BY_OFFSET(value, BOOLEAN ignore_nulls)",
                    "EARLIEST_BY_OFFSET(value, INT n)",
                    "EARLIEST_BY_OFFSET(value, INT n, BOOLEAN ignore_nulls)"
                ],
                "The earliest value, or an array of the earliest n."
            ),
            info!(
                "COLLECT_LIST",
                Aggregate,
                ["COLLECT_LIST(value)"],
                "Every value, in order, as an array."
            ),
            info!(
                "COLLECT_SET",
                Aggregate,
                ["COLLECT_SET(value)"],
                "The distinct values, in first-seen order, as an array."
            ),
            info!(
                "TOPK",
                Aggregate,
                ["TOPK(value, INT k)", "TOPK(value, col0, ..., INT k)"],
                "The k largest values, largest first."
            ),
            info!(
                "TOPKDISTINCT",
                Aggregate,
                ["TOPKDISTINCT(value, INT k)"],
                "The k largest distinct values, largest first."
            ),
            info!(
                "COUNT_DISTINCT",
                Aggregate,
                ["COUNT_DISTINCT(value)"],
                "The number of distinct non-NULL values."
            ),
            info!(
                "STDDEV_SAMP",
                Aggregate,
                ["STDDEV_SAMP(INT | BIGINT | DOUBLE)"],
                "The sample standard deviation, as a DOUBLE (0.0 for fewer than two values)."
            ),
            info!(
                "STDDEV_SAMPLE",
                Aggregate,
                ["STDDEV_SAMPLE(INT | BIGINT | DOUBLE)"],
                "The sample standard deviation, as a DOUBLE (0.0 for fewer than two values)."
            ),
            info!(
                "CORRELATION",
                Aggregate,
                ["CORRELATION(DOUBLE x, DOUBLE y)"],
                "Pearson's correlation coefficient of the rows where x and y are both non-NULL (NULL while it is undefined)."
            ),
            info!(
                "HISTOGRAM",
                Aggregate,
                ["HISTOGRAM(STRING)"],
                "A map from each distinct non-NULL string to how often it occurs (at most 1000 strings)."
            ),
            info!(
                "ATTR",
                Aggregate,
                ["ATTR(value)"],
                "The value when every row has the same one (NULL counts as a value), else NULL."
            ),
            info!(
                "SUM_LIST",
                Aggregate,
                ["SUM_LIST(ARRAY<INT | BIGINT | DOUBLE>)"],
                "The sum of the non-NULL elements of every array."
            ),
        ];
        v.sort_by_key(|f| f.name);
        v
    })
}

// SUBSTRING, LPAD/RPAD and SPLIT over characters (STRING) or bytes
// (BYTES), one definition each.

/// SUBSTRING's part: from 1-based `pos` (negative: from the end), `len`
/// items or to the end.
fn substring<T>(items: &[T], pos: i64, len: Option<i64>) -> &[T] {
    let n = items.len() as i64;
    let start = match pos {
        p if p > 0 => p - 1,
        p if p < 0 => (n + p).max(0),
        _ => 0,
    }
    .clamp(0, n);
    let end = (start + len.unwrap_or(n).max(0)).clamp(start, n);
    &items[start as usize..end as usize]
}

/// LPAD/RPAD: `input` padded (or cut) to `len` with `with` repeated; NULL
/// (`None`) for a negative length, or an empty pad that cannot reach it.
fn pad<T: Clone>(input: &[T], len: i64, with: &[T], left: bool) -> Option<Vec<T>> {
    if len < 0 || with.is_empty() && len as usize > input.len() {
        return None;
    }
    let len = len as usize;
    if input.len() >= len {
        return Some(input[..len].to_vec());
    }
    let fill = with.iter().cycle().take(len - input.len()).cloned();
    Some(if left {
        fill.chain(input.iter().cloned()).collect()
    } else {
        input.iter().cloned().chain(fill).collect()
    })
}

/// SPLIT's parts: around each `delim`; an empty one splits every item.
fn split<'a, T: PartialEq>(items: &'a [T], delim: &[T]) -> Vec<&'a [T]> {
    if delim.is_empty() {
        return items.chunks(1).collect();
    }
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i + delim.len() <= items.len() {
        if items[i..].starts_with(delim) {
            out.push(&items[start..i]);
            i += delim.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&items[start..]);
    out
}

/// INSTR's position (1-based, in characters) of the `occurrence`-th
/// `needle` in `hay`, searching forward from `position`, or backward from
/// `len + position + 1` when `position` is negative (as Oracle's INSTR,
/// which ksqlDB's follows); 0 if there is none.
fn instr(hay: &str, needle: &str, position: i64, occurrence: i64) -> i32 {
    let hay: Vec<char> = hay.chars().collect();
    let needle: Vec<char> = needle.chars().collect();
    let len = hay.len() as i64;
    if position == 0 || occurrence < 1 || needle.len() as i64 > len {
        return 0;
    }
    let at = |i: i64| hay[i as usize..].starts_with(&needle);
    let last = len - needle.len() as i64;
    let mut left = occurrence;
    if position > 0 {
        let mut i = position - 1;
        while i <= last {
            if at(i) {
                left -= 1;
                if left == 0 {
                    return i as i32 + 1;
                }
            }
            i += 1;
        }
    } else {
        let mut i = (len + position).min(last);
        while i >= 0 {
            if at(i) {
                left -= 1;
                if left == 0 {
                    return i as i32 + 1;
                }
            }
            i -= 1;
        }
    }
    0
}

pub fn lookup(name: &str) -> Option<&'static FunctionInfo> {
    registry()
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
}

/// A resolved call: the function, the type to bring each argument to, and
/// the result type.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub func: ScalarFunc,
    /// `Some(t)`: cast argument `i` to `t` first.
    pub casts: Vec<Option<SqlType>>,
    pub ty: SqlType,
}

fn is_num(t: &Option<SqlType>) -> bool {
    t.as_ref().is_none_or(SqlType::is_numeric)
}

fn is(t: &Option<SqlType>, want: &SqlType) -> bool {
    t.as_ref().is_none_or(|t| t == want)
}

/// Whether Java would widen a value of type `from` to `to` for a call:
/// INT to BIGINT, and any number to DECIMAL or DOUBLE.
fn widens(from: &SqlType, to: &SqlType) -> bool {
    matches!(
        (from, to),
        (SqlType::Int, SqlType::BigInt)
            | (SqlType::Int | SqlType::BigInt, SqlType::Decimal { .. })
            | (
                SqlType::Int | SqlType::BigInt | SqlType::Decimal { .. },
                SqlType::Double
            )
    )
}

fn widest(types: &[Option<SqlType>]) -> Result<Option<SqlType>, String> {
    let mut acc: Option<SqlType> = None;
    for t in types.iter().flatten() {
        acc = Some(match &acc {
            None => t.clone(),
            Some(a) if a == t => a.clone(),
            Some(a) if a.is_numeric() && t.is_numeric() => {
                let rank = |t: &SqlType| match t {
                    SqlType::Int => 1,
                    SqlType::BigInt => 2,
                    SqlType::Decimal { .. } => 3,
                    _ => 4,
                };
                if rank(t) > rank(a) {
                    t.clone()
                } else {
                    a.clone()
                }
            }
            Some(a) => return Err(format!("mixes {a} and {t}")),
        });
    }
    Ok(acc)
}

/// Resolves `name(args)` for argument types (`None` for an untyped NULL).
pub fn resolve(name: &str, args: &[Option<SqlType>]) -> Result<Resolved, String> {
    use ScalarFunc as F;
    let upper = name.to_uppercase();
    let n = args.len();
    let info = lookup(&upper).ok_or_else(|| format!("unknown function {upper}"))?;
    if info.kind == FunctionKind::Table {
        return Err(format!(
            "{upper} is a table function: call it in the SELECT list of a query over a stream"
        ));
    }
    if info.kind != FunctionKind::Scalar || upper == "TO_JSON_STRING" {
        // Aggregates and TO_JSON_STRING are bound before resolution.
        return Err(format!("unknown function {upper}"));
    }
    let wrong = || {
        format!(
            "{upper} does not take ({}); it takes {}",
            args.iter()
                .map(|a| a.as_ref().map(|t| t.to_string()).unwrap_or("NULL".into()))
                .collect::<Vec<_>>()
                .join(", "),
            info.signatures.join(" or ")
        )
    };
    let s = SqlType::String;
    let all_strings = || args.iter().all(|a| is(a, &s));
    let same = |func: F, ty: SqlType| Resolved {
        func,
        casts: vec![None; n],
        ty,
    };
    let strings = |func: F, count: &[usize], ty: SqlType| -> Result<Resolved, String> {
        if count.contains(&n) && all_strings() {
            Ok(same(func, ty))
        } else {
            Err(wrong())
        }
    };
    // A fixed signature: each argument is NULL, the parameter's type, or a
    // number that widens to it.
    let fixed = |func: F, params: &[SqlType], ty: SqlType| -> Result<Resolved, String> {
        if params.len() != n {
            return Err(wrong());
        }
        let mut casts = vec![None; n];
        for (i, (a, p)) in args.iter().zip(params).enumerate() {
            match a {
                None => {}
                Some(t) if t == p => {}
                Some(t) if widens(t, p) => casts[i] = Some(p.clone()),
                Some(_) => return Err(wrong()),
            }
        }
        Ok(Resolved { func, casts, ty })
    };
    let d = SqlType::Double;
    let int = SqlType::Int;
    let big = SqlType::BigInt;
    let array_of = |t: &Option<SqlType>| match t {
        Some(SqlType::Array(e)) => Some(Some((**e).clone())),
        None => Some(None),
        _ => None,
    };
    Ok(match upper.as_str() {
        "ABS" | "CEIL" | "FLOOR" | "SIGN" if n == 1 && is_num(&args[0]) => {
            let func = match upper.as_str() {
                "ABS" => F::Abs,
                "CEIL" => F::Ceil,
                "FLOOR" => F::Floor,
                _ => F::Sign,
            };
            let ty = if func == F::Sign {
                SqlType::Int
            } else {
                args[0].clone().unwrap_or(SqlType::Double)
            };
            same(func, ty)
        }
        "ROUND" | "TRUNC"
            if (n == 1 || n == 2)
                && is_num(&args[0])
                && (n == 1 || is(&args[1], &SqlType::Int)) =>
        {
            // A DOUBLE cut to a whole number is a BIGINT.
            let ty = match (&args[0], n) {
                (Some(SqlType::Double), 1) => SqlType::BigInt,
                (Some(t), _) => t.clone(),
                (None, _) => SqlType::Double,
            };
            same(if upper == "ROUND" { F::Round } else { F::Trunc }, ty)
        }
        "POWER" if n == 2 && is_num(&args[0]) && is_num(&args[1]) => Resolved {
            func: F::Power,
            casts: vec![Some(SqlType::Double); 2],
            ty: SqlType::Double,
        },
        "GREATEST" | "LEAST" | "COALESCE" if n >= 1 => {
            let ty = widest(args)
                .map_err(|e| format!("{upper} {e}"))?
                .ok_or_else(|| format!("cannot infer the type of {upper}(NULL...)"))?;
            let func = match upper.as_str() {
                "GREATEST" => F::Greatest,
                "LEAST" => F::Least,
                _ => F::Coalesce,
            };
            Resolved {
                func,
                casts: vec![Some(ty.clone()); n],
                ty,
            }
        }
        "IFNULL" | "NULLIF" if n == 2 => {
            let ty = widest(args)
                .map_err(|e| format!("{upper} {e}"))?
                .ok_or_else(|| format!("cannot infer the type of {upper}(NULL, NULL)"))?;
            Resolved {
                func: if upper == "IFNULL" {
                    F::Ifnull
                } else {
                    F::Nullif
                },
                casts: vec![Some(ty.clone()); 2],
                ty,
            }
        }
        "CONCAT" => match args.iter().flatten().next() {
            Some(SqlType::Bytes) if args.iter().all(|a| is(a, &SqlType::Bytes)) => {
                same(F::Concat, SqlType::Bytes)
            }
            _ => strings(F::Concat, &(1..=64).collect::<Vec<_>>(), s.clone())?,
        },
        // Each text function the page gives a BYTES form takes BYTES in the
        // STRING places and gives BYTES back.
        "CONCAT_WS" if n >= 2 && args.iter().flatten().next() == Some(&SqlType::Bytes) => {
            if !args.iter().all(|a| is(a, &SqlType::Bytes)) {
                return Err(wrong());
            }
            same(F::ConcatWs, SqlType::Bytes)
        }
        "SUBSTRING" | "LEN" | "LPAD" | "RPAD" | "SPLIT"
            if args.first() == Some(&Some(SqlType::Bytes)) =>
        {
            let b = SqlType::Bytes;
            let (func, params, ty): (F, &[&SqlType], SqlType) = match upper.as_str() {
                "SUBSTRING" if n == 2 => (F::Substring, &[&b, &int], b.clone()),
                "SUBSTRING" => (F::Substring, &[&b, &int, &int], b.clone()),
                "LEN" => (F::Len, &[&b], int.clone()),
                "LPAD" => (F::Lpad, &[&b, &int, &b], b.clone()),
                "RPAD" => (F::Rpad, &[&b, &int, &b], b.clone()),
                _ => (F::Split, &[&b, &b], SqlType::Array(Box::new(b.clone()))),
            };
            if params.len() != n {
                return Err(wrong());
            }
            let mut casts = vec![None; n];
            for (i, (a, want)) in args.iter().zip(params).enumerate() {
                match a {
                    None => {}
                    Some(t) if t == *want => {}
                    Some(t) if **want == int && widens(t, want) => casts[i] = Some(int.clone()),
                    Some(_) => return Err(wrong()),
                }
            }
            Resolved { func, casts, ty }
        }
        "CONCAT_WS" => strings(F::ConcatWs, &(2..=64).collect::<Vec<_>>(), s.clone())?,
        "SUBSTRING" if (n == 2 || n == 3) && is(&args[0], &s) && args[1..].iter().all(is_num) => {
            let mut casts = vec![None; n];
            for c in casts.iter_mut().skip(1) {
                *c = Some(SqlType::Int);
            }
            Resolved {
                func: F::Substring,
                casts,
                ty: s.clone(),
            }
        }
        "LEN" if n == 1 && is(&args[0], &s) => same(F::Len, SqlType::Int),
        "UCASE" => strings(F::Ucase, &[1], s.clone())?,
        "LCASE" => strings(F::Lcase, &[1], s.clone())?,
        "TRIM" => strings(F::Trim, &[1], s.clone())?,
        "LTRIM" => strings(F::Ltrim, &[1], s.clone())?,
        "RTRIM" => strings(F::Rtrim, &[1], s.clone())?,
        "INITCAP" => strings(F::Initcap, &[1], s.clone())?,
        "REPLACE" => strings(F::Replace, &[3], s.clone())?,
        "INSTR" if (2..=4).contains(&n) => {
            let mut casts = vec![None; n];
            for (i, a) in args.iter().enumerate() {
                let want = if i < 2 { &s } else { &int };
                match a {
                    None => {}
                    Some(t) if t == want => {}
                    Some(t) if i >= 2 && widens(t, want) => casts[i] = Some(int.clone()),
                    Some(_) => return Err(wrong()),
                }
            }
            Resolved {
                func: F::Instr,
                casts,
                ty: SqlType::Int,
            }
        }
        "LPAD" | "RPAD" if n == 3 && is(&args[0], &s) && is_num(&args[1]) && is(&args[2], &s) => {
            Resolved {
                func: if upper == "LPAD" { F::Lpad } else { F::Rpad },
                casts: vec![None, Some(SqlType::Int), None],
                ty: s.clone(),
            }
        }
        "SPLIT" => strings(F::Split, &[2], SqlType::Array(Box::new(s.clone())))?,
        "EXTRACTJSONFIELD" => strings(F::ExtractJsonField, &[2], s.clone())?,
        "IS_JSON_STRING" => strings(F::IsJsonString, &[1], SqlType::Boolean)?,
        "REGEXP_REPLACE" => strings(F::RegexpReplace, &[3], s.clone())?,
        "REGEXP_SPLIT_TO_ARRAY" => strings(
            F::RegexpSplitToArray,
            &[2],
            SqlType::Array(Box::new(s.clone())),
        )?,
        "REGEXP_EXTRACT" | "REGEXP_EXTRACT_ALL"
            if (n == 2 || n == 3)
                && is(&args[0], &s)
                && is(&args[1], &s)
                && (n == 2 || is_num(&args[2])) =>
        {
            let all = upper == "REGEXP_EXTRACT_ALL";
            let mut casts = vec![None; n];
            if n == 3 {
                casts[2] = Some(SqlType::Int);
            }
            Resolved {
                func: if all {
                    F::RegexpExtractAll
                } else {
                    F::RegexpExtract
                },
                casts,
                ty: if all {
                    SqlType::Array(Box::new(s.clone()))
                } else {
                    s.clone()
                },
            }
        }
        "ARRAY_LENGTH" if n == 1 && matches!(args[0], None | Some(SqlType::Array(_))) => {
            same(F::ArrayLength, SqlType::Int)
        }
        "ARRAY_CONTAINS" if n == 2 => match &args[0] {
            Some(SqlType::Array(elem)) => Resolved {
                func: F::ArrayContains,
                casts: vec![None, Some((**elem).clone())],
                ty: SqlType::Boolean,
            },
            None => same(F::ArrayContains, SqlType::Boolean),
            _ => return Err(wrong()),
        },
        "ARRAY_JOIN"
            if (n == 1 || n == 2)
                && matches!(args[0], None | Some(SqlType::Array(_)))
                && (n == 1 || is(&args[1], &s)) =>
        {
            same(F::ArrayJoin, s.clone())
        }
        "ARRAY_MIN" | "ARRAY_MAX" if n == 1 => {
            let func = if upper == "ARRAY_MIN" {
                F::ArrayMin
            } else {
                F::ArrayMax
            };
            match &args[0] {
                // Elements ordered as ORDER BY orders them: not collections.
                Some(SqlType::Array(elem))
                    if !matches!(
                        **elem,
                        SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
                    ) =>
                {
                    same(func, (**elem).clone())
                }
                _ => return Err(wrong()),
            }
        }
        "GENERATE_SERIES" if (n == 2 || n == 3) && args.iter().all(is_num) => {
            let ty = if args.iter().any(|a| is(a, &SqlType::BigInt)) {
                SqlType::BigInt
            } else {
                SqlType::Int
            };
            if args
                .iter()
                .flatten()
                .any(|a| !matches!(a, SqlType::Int | SqlType::BigInt))
            {
                return Err(wrong());
            }
            Resolved {
                func: F::GenerateSeries,
                casts: vec![Some(ty.clone()); n],
                ty: SqlType::Array(Box::new(ty)),
            }
        }
        "ENTRIES" if n == 2 && is(&args[1], &SqlType::Boolean) => match &args[0] {
            Some(SqlType::Map(k, v)) if **k == SqlType::String => same(
                F::Entries,
                SqlType::Array(Box::new(SqlType::Struct(vec![
                    ("K".into(), SqlType::String),
                    ("V".into(), (**v).clone()),
                ]))),
            ),
            _ => return Err(wrong()),
        },
        "MAP_KEYS" | "MAP_VALUES" if n == 1 => match &args[0] {
            Some(SqlType::Map(k, v)) => {
                let (func, elem) = if upper == "MAP_KEYS" {
                    (F::MapKeys, k)
                } else {
                    (F::MapValues, v)
                };
                same(func, SqlType::Array(elem.clone()))
            }
            _ => return Err(wrong()),
        },
        "AS_VALUE" if n == 1 => same(
            F::AsValue,
            args[0]
                .clone()
                .ok_or("cannot infer the type of AS_VALUE(NULL)")?,
        ),
        "TO_BYTES" => strings(F::ToBytes, &[2], SqlType::Bytes)?,
        "FROM_BYTES" if n == 2 && is(&args[0], &SqlType::Bytes) && is(&args[1], &s) => {
            same(F::FromBytes, s.clone())
        }
        "UNIX_TIMESTAMP" if n == 0 || (n == 1 && is(&args[0], &SqlType::Timestamp)) => {
            same(F::UnixTimestamp, SqlType::BigInt)
        }
        "SQRT" | "EXP" | "LN" | "ACOS" | "ASIN" | "ATAN" | "COS" | "COSH" | "COT" | "SIN"
        | "SINH" | "TAN" | "TANH" | "CBRT" | "DEGREES" | "RADIANS" | "LOG"
            if n == 1 && is_num(&args[0]) =>
        {
            let func = ScalarFunc::UNARY_DOUBLE
                .iter()
                .find(|(name, _)| *name == upper)
                .map(|(_, f)| *f)
                .ok_or_else(wrong)?;
            fixed(func, std::slice::from_ref(&d), d.clone())?
        }
        "LOG" | "ATAN2" if n == 2 && args.iter().all(is_num) => {
            let func = if upper == "LOG" { F::Log } else { F::Atan2 };
            fixed(func, &[d.clone(), d.clone()], d.clone())?
        }
        "PI" if n == 0 => same(F::Pi, d.clone()),
        "RANDOM" if n == 0 => same(F::Random, d.clone()),
        "GEO_DISTANCE" if (n == 4 || n == 5) && args[..4].iter().all(is_num) => {
            let mut params = vec![d.clone(); 4];
            if n == 5 {
                params.push(s.clone());
            }
            fixed(F::GeoDistance, &params, d.clone())?
        }
        "CHR" if n == 1 && is(&args[0], &int) => same(F::Chr, s.clone()),
        "CHR" => strings(F::Chr, &[1], s.clone())?,
        "ENCODE" => strings(F::Encode, &[3], s.clone())?,
        "MASK" => strings(F::Mask, &[1, 5], s.clone())?,
        "MASK_LEFT" | "MASK_RIGHT" | "MASK_KEEP_LEFT" | "MASK_KEEP_RIGHT"
            if (n == 2 || n == 6)
                && is(&args[0], &s)
                && is(&args[1], &int)
                && args[2..].iter().all(|a| is(a, &s)) =>
        {
            let func = match upper.as_str() {
                "MASK_LEFT" => F::MaskLeft,
                "MASK_RIGHT" => F::MaskRight,
                "MASK_KEEP_LEFT" => F::MaskKeepLeft,
                _ => F::MaskKeepRight,
            };
            same(func, s.clone())
        }
        "MD5" => strings(F::Md5, &[1], s.clone())?,
        "UUID" if n == 0 => same(F::Uuid, s.clone()),
        "UUID" => fixed(F::Uuid, &[SqlType::Bytes], s.clone())?,
        "SPLIT_TO_MAP" => strings(
            F::SplitToMap,
            &[3],
            SqlType::Map(Box::new(s.clone()), Box::new(s.clone())),
        )?,
        "ELT" if n >= 1 && is(&args[0], &int) && args[1..].iter().all(|a| is(a, &s)) => {
            same(F::Elt, s.clone())
        }
        "FIELD" if n >= 1 && all_strings() => same(F::Field, int.clone()),
        "JSON_ARRAY_CONTAINS" if n == 2 && is(&args[0], &s) => {
            same(F::JsonArrayContains, SqlType::Boolean)
        }
        "JSON_ARRAY_LENGTH" => strings(F::JsonArrayLength, &[1], int.clone())?,
        "JSON_CONCAT" => strings(F::JsonConcat, &(2..=64).collect::<Vec<_>>(), s.clone())?,
        "JSON_KEYS" => strings(F::JsonKeys, &[1], SqlType::Array(Box::new(s.clone())))?,
        "JSON_ITEMS" => strings(F::JsonItems, &[1], SqlType::Array(Box::new(s.clone())))?,
        "JSON_RECORDS" => strings(
            F::JsonRecords,
            &[1],
            SqlType::Map(Box::new(s.clone()), Box::new(s.clone())),
        )?,
        "URL_DECODE_PARAM" => strings(F::UrlDecodeParam, &[1], s.clone())?,
        "URL_ENCODE_PARAM" => strings(F::UrlEncodeParam, &[1], s.clone())?,
        "URL_EXTRACT_FRAGMENT" => strings(F::UrlExtractFragment, &[1], s.clone())?,
        "URL_EXTRACT_HOST" => strings(F::UrlExtractHost, &[1], s.clone())?,
        "URL_EXTRACT_PARAMETER" => strings(F::UrlExtractParameter, &[2], s.clone())?,
        "URL_EXTRACT_PATH" => strings(F::UrlExtractPath, &[1], s.clone())?,
        "URL_EXTRACT_PORT" => strings(F::UrlExtractPort, &[1], int.clone())?,
        "URL_EXTRACT_PROTOCOL" => strings(F::UrlExtractProtocol, &[1], s.clone())?,
        "URL_EXTRACT_QUERY" => strings(F::UrlExtractQuery, &[1], s.clone())?,
        "INT_FROM_BYTES" | "BIGINT_FROM_BYTES" | "DOUBLE_FROM_BYTES" => {
            let (func, ty) = match upper.as_str() {
                "INT_FROM_BYTES" => (F::IntFromBytes, int.clone()),
                "BIGINT_FROM_BYTES" => (F::BigIntFromBytes, big.clone()),
                _ => (F::DoubleFromBytes, d.clone()),
            };
            fixed(func, &[SqlType::Bytes], ty.clone())
                .or_else(|_| fixed(func, &[SqlType::Bytes, s.clone()], ty))?
        }
        "ARRAY_CONCAT" | "ARRAY_EXCEPT" | "ARRAY_INTERSECT" | "ARRAY_UNION" if n == 2 => {
            let (Some(a), Some(b)) = (array_of(&args[0]), array_of(&args[1])) else {
                return Err(wrong());
            };
            let elem = widest(&[a, b])
                .map_err(|e| format!("{upper} {e}"))?
                .ok_or_else(|| format!("cannot infer the type of {upper}(NULL, NULL)"))?;
            let ty = SqlType::Array(Box::new(elem));
            let func = match upper.as_str() {
                "ARRAY_CONCAT" => F::ArrayConcat,
                "ARRAY_EXCEPT" => F::ArrayExcept,
                "ARRAY_INTERSECT" => F::ArrayIntersect,
                _ => F::ArrayUnion,
            };
            Resolved {
                func,
                casts: vec![Some(ty.clone()); 2],
                ty,
            }
        }
        "ARRAY_DISTINCT" if n == 1 => match &args[0] {
            Some(t @ SqlType::Array(_)) => same(F::ArrayDistinct, t.clone()),
            _ => return Err(wrong()),
        },
        "ARRAY_SORT" if n == 1 || n == 2 && is(&args[1], &s) => match &args[0] {
            Some(t @ SqlType::Array(e))
                if !matches!(
                    **e,
                    SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
                ) =>
            {
                same(F::ArraySort, t.clone())
            }
            _ => return Err(wrong()),
        },
        "ARRAY_REMOVE" if n == 2 => match &args[0] {
            Some(t @ SqlType::Array(e)) => Resolved {
                func: F::ArrayRemove,
                casts: vec![None, Some((**e).clone())],
                ty: t.clone(),
            },
            _ => return Err(wrong()),
        },
        "SLICE" if n == 3 => match &args[0] {
            Some(t @ SqlType::Array(_)) => {
                fixed(F::Slice, &[t.clone(), int.clone(), int.clone()], t.clone())?
            }
            _ => return Err(wrong()),
        },
        "AS_MAP" if n == 2 => match (&args[0], &args[1]) {
            (Some(SqlType::Array(k)), Some(SqlType::Array(v))) if **k == s => {
                same(F::AsMap, SqlType::Map(k.clone(), v.clone()))
            }
            _ => return Err(wrong()),
        },
        "MAP_UNION" if n >= 1 => {
            let first = args
                .iter()
                .flatten()
                .next()
                .cloned()
                .ok_or_else(|| "cannot infer the type of MAP_UNION(NULL...)".to_string())?;
            if !matches!(first, SqlType::Map(..)) || args.iter().any(|a| !is(a, &first)) {
                return Err(wrong());
            }
            same(F::MapUnion, first)
        }
        "PARSE_DATE" => strings(F::ParseDate, &[2], SqlType::Date)?,
        "PARSE_TIME" => strings(F::ParseTime, &[2], SqlType::Time)?,
        "PARSE_TIMESTAMP" => strings(F::ParseTimestamp, &[2, 3], SqlType::Timestamp)?,
        "STRINGTODATE" => strings(F::StringToDate, &[2], int.clone())?,
        "STRINGTOTIMESTAMP" => strings(F::StringToTimestamp, &[2, 3], big.clone())?,
        "FORMAT_DATE" => fixed(F::FormatDate, &[SqlType::Date, s.clone()], s.clone())?,
        "FORMAT_TIME" => fixed(F::FormatTime, &[SqlType::Time, s.clone()], s.clone())?,
        "FORMAT_TIMESTAMP" => fixed(
            F::FormatTimestamp,
            &[SqlType::Timestamp, s.clone()],
            s.clone(),
        )
        .or_else(|_| {
            fixed(
                F::FormatTimestamp,
                &[SqlType::Timestamp, s.clone(), s.clone()],
                s.clone(),
            )
        })?,
        "DATETOSTRING" => fixed(F::DateToString, &[int.clone(), s.clone()], s.clone())?,
        "TIMESTAMPTOSTRING" => fixed(F::TimestampToString, &[big.clone(), s.clone()], s.clone())
            .or_else(|_| {
                fixed(
                    F::TimestampToString,
                    &[big.clone(), s.clone(), s.clone()],
                    s.clone(),
                )
            })?,
        "CONVERT_TZ" => fixed(
            F::ConvertTz,
            &[SqlType::Timestamp, s.clone(), s.clone()],
            SqlType::Timestamp,
        )?,
        "FROM_UNIXTIME" => fixed(
            F::FromUnixtime,
            std::slice::from_ref(&big),
            SqlType::Timestamp,
        )?,
        "FROM_DAYS" => fixed(F::FromDays, std::slice::from_ref(&int), SqlType::Date)?,
        "UNIX_DATE" if n == 0 => same(F::UnixDate, int.clone()),
        "UNIX_DATE" => fixed(F::UnixDate, &[SqlType::Date], int.clone())?,
        "DATEADD" | "DATESUB" | "TIMEADD" | "TIMESUB" | "TIMESTAMPADD" | "TIMESTAMPSUB" => {
            let (func, ty) = match upper.as_str() {
                "DATEADD" => (F::DateAdd, SqlType::Date),
                "DATESUB" => (F::DateSub, SqlType::Date),
                "TIMEADD" => (F::TimeAdd, SqlType::Time),
                "TIMESUB" => (F::TimeSub, SqlType::Time),
                "TIMESTAMPADD" => (F::TimestampAdd, SqlType::Timestamp),
                _ => (F::TimestampSub, SqlType::Timestamp),
            };
            let count = if matches!(args.get(1), Some(Some(SqlType::BigInt))) {
                big.clone()
            } else {
                int.clone()
            };
            fixed(func, &[s.clone(), count, ty.clone()], ty)?
        }
        _ => return Err(wrong()),
    })
}

pub(super) fn text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

pub(super) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i as i64),
        Value::BigInt(i) => Some(*i),
        _ => None,
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, EvalError> {
    // Patterns are usually literals: compile each distinct one once.
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>> = Default::default();
    }
    CACHE.with(|c| {
        if let Some(r) = c.borrow().get(pattern) {
            return Ok(r.clone());
        }
        let r = regex::Regex::new(pattern).map_err(|e| {
            EvalError::InvalidArgument(format!("invalid regular expression '{pattern}': {e}"))
        })?;
        c.borrow_mut().insert(pattern.to_string(), r.clone());
        Ok(r)
    })
}

/// ksqlDB's JSONPath subset: `$`, `.name`, `['name']`, `[index]`.
fn json_path<'a>(mut v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut rest = path.trim().strip_prefix('$')?;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            v = v.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            v = match inner
                .strip_prefix('\'')
                .and_then(|i| i.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|i| i.strip_suffix('"')))
            {
                Some(name) => v.get(name)?,
                None => v.get(inner.parse::<usize>().ok()?)?,
            };
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(v)
}

/// The haversine distance between two (latitude, longitude) points in
/// degrees, on a sphere of `radius`.
fn geo_distance([lat1, lon1, lat2, lon2]: [f64; 4], radius: f64) -> Result<f64, EvalError> {
    if lat1.abs() > 90.0 || lat2.abs() > 90.0 || lon1.abs() > 180.0 || lon2.abs() > 180.0 {
        return Err(EvalError::InvalidArgument(format!(
            "GEO_DISTANCE: ({lat1}, {lon1}) or ({lat2}, {lon2}) is not a latitude and longitude in degrees"
        )));
    }
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    Ok(2.0 * radius * a.sqrt().asin())
}

impl ScalarFunc {
    /// The one-argument functions of a DOUBLE, by name.
    const UNARY_DOUBLE: &'static [(&'static str, ScalarFunc)] = &[
        ("SQRT", ScalarFunc::Sqrt),
        ("EXP", ScalarFunc::Exp),
        ("LN", ScalarFunc::Ln),
        ("ACOS", ScalarFunc::Acos),
        ("ASIN", ScalarFunc::Asin),
        ("ATAN", ScalarFunc::Atan),
        ("COS", ScalarFunc::Cos),
        ("COSH", ScalarFunc::Cosh),
        ("COT", ScalarFunc::Cot),
        ("SIN", ScalarFunc::Sin),
        ("SINH", ScalarFunc::Sinh),
        ("TAN", ScalarFunc::Tan),
        ("TANH", ScalarFunc::Tanh),
        ("CBRT", ScalarFunc::Cbrt),
        ("DEGREES", ScalarFunc::Degrees),
        ("RADIANS", ScalarFunc::Radians),
        ("LOG", ScalarFunc::Log),
    ];

    /// The SQL name, for messages: the variant's words, upper-cased and
    /// joined with underscores, which is the registry's name.
    pub fn name(&self) -> String {
        let debug = format!("{self:?}");
        let mut out = String::new();
        for (i, c) in debug.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        match out.as_str() {
            "BIG_INT_FROM_BYTES" => "BIGINT_FROM_BYTES".into(),
            // ksqlDB runs these words together.
            "STRING_TO_DATE"
            | "STRING_TO_TIMESTAMP"
            | "DATE_TO_STRING"
            | "TIMESTAMP_TO_STRING"
            | "DATE_ADD"
            | "DATE_SUB"
            | "TIME_ADD"
            | "TIME_SUB"
            | "TIMESTAMP_ADD"
            | "TIMESTAMP_SUB"
            | "EXTRACT_JSON_FIELD" => out.replace('_', ""),
            _ => out,
        }
    }

    /// Evaluates the function on arguments already of the resolved types.
    pub fn eval(&self, args: &[Value]) -> Result<Value, EvalError> {
        use ScalarFunc as F;
        // NULL in, NULL out, except for the NULL-handling functions.
        let null_tolerant = matches!(
            self,
            F::Coalesce
                | F::Ifnull
                | F::Nullif
                | F::Concat
                | F::ConcatWs
                | F::Greatest
                | F::Least
                | F::ArrayContains
                | F::AsValue
                | F::Mask
                | F::MaskLeft
                | F::MaskRight
                | F::MaskKeepLeft
                | F::MaskKeepRight
                | F::Uuid
                | F::Random
                | F::Elt
                | F::Field
                | F::JsonArrayContains
                | F::ArrayConcat
                | F::ArrayRemove
                | F::MapUnion
                | F::IsJsonString
        );
        if !null_tolerant && args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let s = |i: usize| text(&args[i]).unwrap_or("");
        let st = |v: String| Value::String(v);
        Ok(match self {
            F::Abs => eval::abs(&args[0])?,
            F::Sign => Value::Int(match eval::compare(&args[0], &eval::zero_like(&args[0])) {
                Some(std::cmp::Ordering::Less) => -1,
                Some(std::cmp::Ordering::Greater) => 1,
                _ => 0,
            }),
            F::Ceil | F::Floor | F::Round => eval::round(
                &args[0],
                *self == F::Ceil,
                *self == F::Floor,
                args.get(1).and_then(int).unwrap_or(0),
            )?,
            F::Sqrt
            | F::Exp
            | F::Ln
            | F::Acos
            | F::Asin
            | F::Atan
            | F::Cos
            | F::Cosh
            | F::Cot
            | F::Sin
            | F::Sinh
            | F::Tan
            | F::Tanh
            | F::Cbrt
            | F::Degrees
            | F::Radians
            | F::Log
            | F::Power
            | F::Atan2
            | F::Pi
            | F::GeoDistance => {
                let x = |i: usize| match args.get(i) {
                    Some(Value::Double(d)) => Ok(d.0),
                    _ => Err(EvalError::Internal(format!(
                        "{} expects DOUBLEs",
                        self.name()
                    ))),
                };
                Value::Double(F64(match self {
                    F::Pi => std::f64::consts::PI,
                    F::Power => x(0)?.powf(x(1)?),
                    F::Atan2 => x(0)?.atan2(x(1)?),
                    F::Log if args.len() == 2 => x(1)?.ln() / x(0)?.ln(),
                    F::GeoDistance => {
                        let radius = match args.get(4) {
                            None => 6371.0,
                            Some(Value::String(u)) => match u.to_ascii_uppercase().as_str() {
                                "KM" | "KILOMETERS" | "KILOMETRES" => 6371.0,
                                "MI" | "MILES" => 3959.0,
                                other => {
                                    return Err(EvalError::InvalidArgument(format!(
                                        "GEO_DISTANCE: unknown unit '{other}'; use 'KM' or 'MI'"
                                    )))
                                }
                            },
                            Some(_) => return Ok(Value::Null),
                        };
                        geo_distance([x(0)?, x(1)?, x(2)?, x(3)?], radius)?
                    }
                    f => {
                        let v = x(0)?;
                        match f {
                            F::Sqrt => v.sqrt(),
                            F::Exp => v.exp(),
                            F::Ln | F::Log => v.ln(),
                            F::Acos => v.acos(),
                            F::Asin => v.asin(),
                            F::Atan => v.atan(),
                            F::Cos => v.cos(),
                            F::Cosh => v.cosh(),
                            F::Cot => 1.0 / v.tan(),
                            F::Sin => v.sin(),
                            F::Sinh => v.sinh(),
                            F::Tan => v.tan(),
                            F::Tanh => v.tanh(),
                            F::Cbrt => v.cbrt(),
                            F::Degrees => v.to_degrees(),
                            _ => v.to_radians(),
                        }
                    }
                }))
            }
            F::Trunc => {
                let digits = args.get(1).and_then(int).unwrap_or(0);
                let negative =
                    eval::compare(&args[0], &eval::zero_like(&args[0])) == Some(Ordering::Less);
                match &args[0] {
                    Value::Double(d) if args.len() == 1 => Value::BigInt(d.0.trunc() as i64),
                    Value::Double(d) => {
                        let m = 10f64.powi(digits as i32);
                        Value::Double(F64((d.0 * m).trunc() / m))
                    }
                    // Negative digits truncate left of the point:
                    // TRUNC(12345.67, -3) is 12000.00.
                    Value::Decimal(u, scale) => {
                        let drop = (*scale as i64 - digits.min(*scale as i64)).min(38) as u32;
                        let div = 10i128.pow(drop);
                        Value::Decimal(u / div * div, *scale)
                    }
                    Value::Int(i) if digits < 0 => {
                        let m = 10i64.pow((-digits).min(9) as u32);
                        Value::Int((*i as i64 / m * m) as i32)
                    }
                    Value::BigInt(i) if digits < 0 => {
                        let m = 10i64.pow((-digits).min(18) as u32);
                        Value::BigInt(i / m * m)
                    }
                    other if negative => eval::round(other, true, false, digits)?,
                    other => eval::round(other, false, true, digits)?,
                }
            }
            F::Chr
            | F::Encode
            | F::Mask
            | F::MaskLeft
            | F::MaskRight
            | F::MaskKeepLeft
            | F::MaskKeepRight
            | F::Md5
            | F::Uuid
            | F::Random
            | F::SplitToMap
            | F::Elt
            | F::Field
            | F::JsonArrayContains
            | F::JsonArrayLength
            | F::JsonConcat
            | F::JsonKeys
            | F::JsonRecords
            | F::JsonItems
            | F::UrlDecodeParam
            | F::UrlEncodeParam
            | F::UrlExtractFragment
            | F::UrlExtractHost
            | F::UrlExtractParameter
            | F::UrlExtractPath
            | F::UrlExtractPort
            | F::UrlExtractProtocol
            | F::UrlExtractQuery
            | F::IntFromBytes
            | F::BigIntFromBytes
            | F::DoubleFromBytes => text::eval(*self, args)?,
            F::ArrayConcat
            | F::ArrayDistinct
            | F::ArrayExcept
            | F::ArrayIntersect
            | F::ArrayRemove
            | F::ArraySort
            | F::ArrayUnion
            | F::AsMap
            | F::MapUnion
            | F::Slice => collections::eval(*self, args)?,
            F::ParseDate
            | F::ParseTime
            | F::ParseTimestamp
            | F::FormatDate
            | F::FormatTime
            | F::FormatTimestamp
            | F::StringToDate
            | F::StringToTimestamp
            | F::DateToString
            | F::TimestampToString
            | F::ConvertTz
            | F::FromUnixtime
            | F::FromDays
            | F::UnixDate
            | F::DateAdd
            | F::DateSub
            | F::TimeAdd
            | F::TimeSub
            | F::TimestampAdd
            | F::TimestampSub => datetime::eval(*self, args)?,
            F::Greatest | F::Least => {
                let want = if *self == F::Greatest {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                };
                let mut best: Option<&Value> = None;
                for a in args.iter().filter(|a| !a.is_null()) {
                    if best.is_none_or(|b| eval::compare(a, b) == Some(want)) {
                        best = Some(a);
                    }
                }
                best.cloned().unwrap_or(Value::Null)
            }
            F::Concat => match args.first() {
                Some(Value::Bytes(_)) => Value::Bytes(
                    args.iter()
                        .flat_map(|a| match a {
                            Value::Bytes(b) => b.clone(),
                            _ => vec![],
                        })
                        .collect(),
                ),
                _ => st(args.iter().filter_map(text).collect()),
            },
            F::ConcatWs => match &args[0] {
                Value::String(sep) => st(args[1..]
                    .iter()
                    .filter_map(text)
                    .collect::<Vec<_>>()
                    .join(sep)),
                Value::Bytes(sep) => {
                    let parts: Vec<&[u8]> = args[1..]
                        .iter()
                        .filter_map(|a| match a {
                            Value::Bytes(b) => Some(b.as_slice()),
                            _ => None,
                        })
                        .collect();
                    Value::Bytes(parts.join(sep.as_slice()))
                }
                _ => Value::Null,
            },
            F::Substring => {
                let (pos, len) = (int(&args[1]).unwrap_or(1), args.get(2).and_then(int));
                match &args[0] {
                    Value::Bytes(b) => Value::Bytes(substring(b, pos, len).to_vec()),
                    _ => {
                        let chars: Vec<char> = s(0).chars().collect();
                        st(substring(&chars, pos, len).iter().collect())
                    }
                }
            }
            F::Len => Value::Int(match &args[0] {
                Value::Bytes(b) => b.len() as i32,
                _ => s(0).chars().count() as i32,
            }),
            F::Ucase => st(s(0).to_uppercase()),
            F::Lcase => st(s(0).to_lowercase()),
            F::Trim => st(s(0).trim().to_string()),
            F::Ltrim => st(s(0).trim_start().to_string()),
            F::Rtrim => st(s(0).trim_end().to_string()),
            F::Replace => st(s(0).replace(s(1), s(2))),
            F::Initcap => st(s(0)
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    match c.next() {
                        Some(f) => f
                            .to_uppercase()
                            .chain(c.flat_map(char::to_lowercase))
                            .collect(),
                        None => String::new(),
                    }
                })
                .collect::<Vec<String>>()
                .join(" ")),
            F::Instr => Value::Int(instr(
                s(0),
                s(1),
                args.get(2).and_then(int).unwrap_or(1),
                args.get(3).and_then(int).unwrap_or(1),
            )),
            F::Lpad | F::Rpad => {
                let (len, left) = (int(&args[1]).unwrap_or(0), *self == F::Lpad);
                match (&args[0], &args[2]) {
                    (Value::Bytes(b), Value::Bytes(p)) => {
                        pad(b, len, p, left).map_or(Value::Null, Value::Bytes)
                    }
                    _ => {
                        let (input, with): (Vec<char>, Vec<char>) =
                            (s(0).chars().collect(), s(2).chars().collect());
                        pad(&input, len, &with, left)
                            .map_or(Value::Null, |v| st(v.into_iter().collect()))
                    }
                }
            }
            F::Split => Value::Array(match (&args[0], &args[1]) {
                (Value::Bytes(b), Value::Bytes(d)) => split(b, d)
                    .into_iter()
                    .map(|p| Value::Bytes(p.to_vec()))
                    .collect(),
                _ => {
                    let (input, with): (Vec<char>, Vec<char>) =
                        (s(0).chars().collect(), s(1).chars().collect());
                    split(&input, &with)
                        .into_iter()
                        .map(|p| st(p.iter().collect()))
                        .collect()
                }
            }),
            F::Coalesce => args
                .iter()
                .find(|a| !a.is_null())
                .cloned()
                .unwrap_or(Value::Null),
            F::Ifnull => {
                if args[0].is_null() {
                    args[1].clone()
                } else {
                    args[0].clone()
                }
            }
            F::Nullif => {
                if !args[0].is_null()
                    && eval::compare(&args[0], &args[1]) == Some(std::cmp::Ordering::Equal)
                {
                    Value::Null
                } else {
                    args[0].clone()
                }
            }
            F::ExtractJsonField => {
                let Ok(json) = serde_json::from_str::<serde_json::Value>(s(0)) else {
                    return Ok(Value::Null);
                };
                match json_path(&json, s(1)) {
                    None | Some(serde_json::Value::Null) => Value::Null,
                    Some(serde_json::Value::String(v)) => st(v.clone()),
                    Some(other) => st(other.to_string()),
                }
            }
            // NULL is not a JSON string: FALSE, as the function page says.
            F::IsJsonString => Value::Boolean(
                !args[0].is_null() && serde_json::from_str::<serde_json::Value>(s(0)).is_ok(),
            ),
            F::RegexpReplace => st(regex(s(1))?.replace_all(s(0), s(2)).into_owned()),
            F::RegexpSplitToArray => Value::Array(
                regex(s(1))?
                    .split(s(0))
                    .map(|p| st(p.to_string()))
                    .collect(),
            ),
            F::RegexpExtract | F::RegexpExtractAll => {
                let re = regex(s(0))?;
                let group = args.get(2).and_then(int).unwrap_or(0).max(0) as usize;
                let pick = |c: regex::Captures<'_>| {
                    c.get(group)
                        .map(|m| st(m.as_str().to_string()))
                        .unwrap_or(Value::Null)
                };
                if *self == F::RegexpExtract {
                    re.captures(s(1)).map(pick).unwrap_or(Value::Null)
                } else {
                    Value::Array(re.captures_iter(s(1)).map(pick).collect())
                }
            }
            F::ArrayLength => match &args[0] {
                Value::Array(a) => Value::Int(a.len() as i32),
                _ => Value::Null,
            },
            F::ArrayContains => match &args[0] {
                Value::Array(a) => Value::Boolean(a.contains(&args[1])),
                _ => Value::Null,
            },
            F::ArrayJoin => match &args[0] {
                Value::Array(a) => {
                    let sep = args.get(1).and_then(text).unwrap_or(",");
                    st(a.iter()
                        .map(|v| match eval::cast(v, &SqlType::String) {
                            Ok(Value::String(s)) => s,
                            _ => "null".to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(sep))
                }
                _ => Value::Null,
            },
            F::ArrayMin | F::ArrayMax => match &args[0] {
                Value::Array(a) => {
                    let wanted = if *self == F::ArrayMin {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    a.iter()
                        .filter(|v| !v.is_null())
                        .fold(None, |best: Option<&Value>, v| match best {
                            Some(b) if eval::compare(v, b) != Some(wanted) => Some(b),
                            _ => Some(v),
                        })
                        .cloned()
                        .unwrap_or(Value::Null)
                }
                _ => Value::Null,
            },
            F::GenerateSeries => {
                let n = |v: &Value| match v {
                    Value::Int(i) => Some(*i as i64),
                    Value::BigInt(i) => Some(*i),
                    _ => None,
                };
                let (Some(start), Some(end)) = (n(&args[0]), n(&args[1])) else {
                    return Err(EvalError::Internal(
                        "GENERATE_SERIES of non-integers".into(),
                    ));
                };
                let step = match args.get(2).map(n) {
                    Some(Some(step)) => step,
                    _ if end < start => -1,
                    _ => 1,
                };
                if step == 0 || (end - start).signum() * step.signum() < 0 {
                    return Err(EvalError::InvalidArgument(format!(
                        "GENERATE_SERIES({start}, {end}, {step}): the step must be non-zero and lead from start to end"
                    )));
                }
                let count = (end - start) / step + 1;
                if count > 1_000_000 {
                    return Err(EvalError::InvalidArgument(format!(
                        "GENERATE_SERIES would make {count} elements; at most 1,000,000"
                    )));
                }
                let int = matches!(args[0], Value::Int(_));
                Value::Array(
                    (0..count)
                        .map(|i| start + i * step)
                        .map(|x| {
                            if int {
                                Value::Int(x as i32)
                            } else {
                                Value::BigInt(x)
                            }
                        })
                        .collect(),
                )
            }
            F::Entries => match &args[0] {
                Value::Map(m) => {
                    let mut entries: Vec<(Value, Value)> = m.clone();
                    if args[1] == Value::Boolean(true) {
                        entries.sort_by(|a, b| {
                            eval::compare(&a.0, &b.0).unwrap_or(std::cmp::Ordering::Equal)
                        });
                    }
                    Value::Array(
                        entries
                            .into_iter()
                            .map(|(k, v)| Value::Struct(vec![k, v]))
                            .collect(),
                    )
                }
                _ => Value::Null,
            },
            F::MapKeys | F::MapValues => match &args[0] {
                Value::Map(m) => Value::Array(
                    m.iter()
                        .map(|(k, v)| {
                            if *self == F::MapKeys {
                                k.clone()
                            } else {
                                v.clone()
                            }
                        })
                        .collect(),
                ),
                _ => Value::Null,
            },
            F::AsValue => args[0].clone(),
            F::ToBytes => st_bytes(s(0), s(1))?,
            F::FromBytes => match &args[0] {
                Value::Bytes(b) => from_bytes(b, s(1))?,
                _ => Value::Null,
            },
            F::UnixTimestamp => match args.first() {
                Some(Value::Timestamp(t)) => Value::BigInt(*t),
                _ => Value::BigInt(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(0),
                ),
            },
        })
    }
}

fn st_bytes(s: &str, encoding: &str) -> Result<Value, EvalError> {
    use base64::Engine as _;
    let bad = |e: String| EvalError::InvalidArgument(format!("TO_BYTES: {e}"));
    Ok(Value::Bytes(match encoding.to_lowercase().as_str() {
        "utf8" | "ascii" => s.as_bytes().to_vec(),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| bad(e.to_string()))?,
        "hex" => (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad(format!("'{s}' is not hex")))
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(bad(format!(
                "unknown encoding '{other}'; use hex, utf8, ascii or base64"
            )))
        }
    }))
}

fn from_bytes(b: &[u8], encoding: &str) -> Result<Value, EvalError> {
    use base64::Engine as _;
    Ok(Value::String(match encoding.to_lowercase().as_str() {
        "utf8" | "ascii" => String::from_utf8_lossy(b).into_owned(),
        "base64" => base64::engine::general_purpose::STANDARD.encode(b),
        "hex" => b.iter().map(|x| format!("{x:02X}")).collect(),
        other => {
            return Err(EvalError::InvalidArgument(format!(
                "FROM_BYTES: unknown encoding '{other}'; use hex, utf8, ascii or base64"
            )))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Value>) -> Value {
        let types: Vec<Option<SqlType>> = args
            .iter()
            .map(|a| match a {
                Value::Null => None,
                Value::String(_) => Some(SqlType::String),
                Value::Int(_) => Some(SqlType::Int),
                Value::BigInt(_) => Some(SqlType::BigInt),
                Value::Double(_) => Some(SqlType::Double),
                Value::Boolean(_) => Some(SqlType::Boolean),
                Value::Array(_) => Some(SqlType::Array(Box::new(SqlType::String))),
                other => panic!("{other:?}"),
            })
            .collect();
        let r = resolve(name, &types).unwrap();
        let args: Vec<Value> = args
            .iter()
            .zip(&r.casts)
            .map(|(a, c)| {
                c.as_ref()
                    .map(|t| eval::cast(a, t).unwrap())
                    .unwrap_or(a.clone())
            })
            .collect();
        r.func.eval(&args).unwrap()
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn the_seed_toggle_pipeline_functions() {
        // seed pipeline 3: cast(regexp_replace(extractjsonfield(AFTER, '$.user_id'), '[^0-9]', '') as bigint)
        let after = s(
            r#"{"_id": {"$oid": "38vhxu2ffa"}, "user_id": {"$numberLong": "1"}, "toggle": false}"#,
        );
        let field = call("extractjsonfield", vec![after.clone(), s("$.user_id")]);
        assert_eq!(field, s(r#"{"$numberLong":"1"}"#));
        assert_eq!(
            call("regexp_replace", vec![field, s("[^0-9]"), s("")]),
            s("1")
        );
        assert_eq!(
            call("extractjsonfield", vec![after.clone(), s("$.toggle")]),
            s("false")
        );
        assert_eq!(
            call("extractjsonfield", vec![after.clone(), s("$.missing")]),
            Value::Null
        );
        assert_eq!(
            call("extractjsonfield", vec![s("not json"), s("$.a")]),
            Value::Null
        );
        assert_eq!(
            call(
                "extractjsonfield",
                vec![s(r#"{"a": [1, {"b": "x"}]}"#), s("$.a[1].b")]
            ),
            s("x")
        );
        assert_eq!(
            call("extractjsonfield", vec![s(r#"{"a b": 2}"#), s("$['a b']")]),
            s("2")
        );
    }

    #[test]
    fn strings() {
        assert_eq!(
            call("substring", vec![s("hello"), Value::Int(2), Value::Int(3)]),
            s("ell")
        );
        assert_eq!(
            call("substring", vec![s("hello"), Value::Int(-3)]),
            s("llo")
        );
        assert_eq!(call("concat", vec![s("a"), Value::Null, s("b")]), s("ab"));
        assert_eq!(call("initcap", vec![s("hello wORLD")]), s("Hello World"));
        assert_eq!(
            call("lpad", vec![s("ab"), Value::Int(5), s("xy")]),
            s("xyxab")
        );
        assert_eq!(call("instr", vec![s("hello"), s("l")]), Value::Int(3));
        assert_eq!(call("len", vec![Value::Null]), Value::Null);
        assert_eq!(
            call(
                "regexp_extract",
                vec![s("(\\d+)-(\\d+)"), s("10-20"), Value::Int(2)]
            ),
            s("20")
        );
        assert_eq!(call("coalesce", vec![Value::Null, s("x")]), s("x"));
        assert_eq!(call("ifnull", vec![Value::Null, s("d")]), s("d"));
    }

    #[test]
    fn series_count_either_way_and_refuse_a_step_that_never_arrives() {
        let ints = |xs: &[i32]| Value::Array(xs.iter().map(|x| Value::Int(*x)).collect());
        assert_eq!(
            call("generate_series", vec![Value::Int(4), Value::Int(1)]),
            ints(&[4, 3, 2, 1])
        );
        assert_eq!(
            call(
                "generate_series",
                vec![Value::Int(0), Value::Int(9), Value::Int(4)]
            ),
            ints(&[0, 4, 8])
        );
        let r = resolve("generate_series", &vec![Some(SqlType::Int); 3]).unwrap();
        for step in [0, -1] {
            assert!(matches!(
                r.func
                    .eval(&[Value::Int(0), Value::Int(3), Value::Int(step)]),
                Err(EvalError::InvalidArgument(_))
            ));
        }
        let map = Some(SqlType::Map(
            Box::new(SqlType::String),
            Box::new(SqlType::Int),
        ));
        let r = resolve("entries", &[map, Some(SqlType::Boolean)]).unwrap();
        let m = Value::Map(vec![(s("b"), Value::Int(2)), (s("a"), Value::Int(1))]);
        assert_eq!(
            r.func.eval(&[m, Value::Boolean(true)]).unwrap(),
            Value::Array(vec![
                Value::Struct(vec![s("a"), Value::Int(1)]),
                Value::Struct(vec![s("b"), Value::Int(2)]),
            ])
        );
    }

    #[test]
    fn array_min_and_max_skip_nulls_and_refuse_collections() {
        let arr = |xs: Vec<Value>| Value::Array(xs);
        let three = arr(vec![
            Value::Int(3),
            Value::Null,
            Value::Int(-1),
            Value::Int(7),
        ]);
        assert_eq!(call("array_min", vec![three.clone()]), Value::Int(-1));
        assert_eq!(call("array_max", vec![three]), Value::Int(7));
        assert_eq!(call("array_min", vec![arr(vec![Value::Null])]), Value::Null);
        assert_eq!(call("array_max", vec![arr(vec![s("b"), s("a")])]), s("b"));
        let nested = SqlType::Array(Box::new(SqlType::Array(Box::new(SqlType::Int))));
        assert!(resolve("array_min", &[Some(nested)]).is_err());
    }

    #[test]
    fn resolution_errors_say_what_is_accepted() {
        let err = resolve("substring", &[Some(SqlType::Int)]).unwrap_err();
        assert!(err.contains("SUBSTRING(STRING, INT pos)"), "{err}");
        assert_eq!(resolve("nope", &[]).unwrap_err(), "unknown function NOPE");
        let err = resolve("explode", &[None]).unwrap_err();
        assert!(
            err.contains("EXPLODE is a table function: call it in the SELECT list"),
            "{err}"
        );
        assert!(resolve("regexp_replace", &vec![Some(SqlType::String); 3]).is_ok());
    }

    #[test]
    fn a_bad_regex_is_an_error_value() {
        let r = resolve("regexp_replace", &vec![Some(SqlType::String); 3]).unwrap();
        assert!(matches!(
            r.func.eval(&[s("a"), s("("), s("")]),
            Err(EvalError::InvalidArgument(_))
        ));
    }
}
