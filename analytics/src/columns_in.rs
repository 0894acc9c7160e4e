//! Reading columns of record batches whoever wrote them: text plain, large, view or
//! dictionary-encoded; integers of any width and sign; timestamps of any unit. arrow-cast
//! would do this by materialising converted arrays; these accessors read in place, which keeps
//! `ringway report` over millions of rows at the cost of its Parquet decoding.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};

/// A text column.
pub(crate) enum TextCol<'a> {
    Plain(&'a StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
    Dict {
        keys: Vec<usize>,
        key_array: &'a dyn Array,
        values: Box<TextCol<'a>>,
    },
}

impl<'a> TextCol<'a> {
    /// The column `name` of `batch`, or what is wrong with it.
    pub(crate) fn of(batch: &'a RecordBatch, name: &str) -> Result<Self, String> {
        let a = batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name}"))?;
        Self::from_array(a.as_ref())
            .ok_or_else(|| format!("column {name} has type {}, expected text", a.data_type()))
    }

    fn from_array(a: &'a dyn Array) -> Option<Self> {
        if let Some(s) = a.as_string_opt::<i32>() {
            return Some(Self::Plain(s));
        }
        if let Some(s) = a.as_string_opt::<i64>() {
            return Some(Self::Large(s));
        }
        if let Some(s) = a.as_string_view_opt() {
            return Some(Self::View(s));
        }
        let d = a.as_any_dictionary_opt()?;
        let values = Self::from_array(d.values().as_ref())?;
        if matches!(values, Self::Dict { .. }) {
            return None;
        }
        Some(Self::Dict {
            keys: d.normalized_keys(),
            key_array: d.keys(),
            values: Box::new(values),
        })
    }

    /// Row `i`; `None` when null.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Plain(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Self::View(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Dict {
                keys,
                key_array,
                values,
            } => {
                if key_array.is_null(i) {
                    None
                } else {
                    values.get(keys[i])
                }
            }
        }
    }
}

/// An integer column of any width and sign, read as `i64` (`u64` values above `i64::MAX`
/// saturate).
pub(crate) enum IntCol<'a> {
    I8(&'a PrimitiveArray<Int8Type>),
    I16(&'a PrimitiveArray<Int16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    U8(&'a PrimitiveArray<UInt8Type>),
    U16(&'a PrimitiveArray<UInt16Type>),
    U32(&'a PrimitiveArray<UInt32Type>),
    U64(&'a PrimitiveArray<UInt64Type>),
}

impl<'a> IntCol<'a> {
    /// The column `name` of `batch`, or what is wrong with it.
    pub(crate) fn of(batch: &'a RecordBatch, name: &str) -> Result<Self, String> {
        let a = batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name}"))?;
        Ok(match a.data_type() {
            DataType::Int8 => Self::I8(a.as_primitive()),
            DataType::Int16 => Self::I16(a.as_primitive()),
            DataType::Int32 => Self::I32(a.as_primitive()),
            DataType::Int64 => Self::I64(a.as_primitive()),
            DataType::UInt8 => Self::U8(a.as_primitive()),
            DataType::UInt16 => Self::U16(a.as_primitive()),
            DataType::UInt32 => Self::U32(a.as_primitive()),
            DataType::UInt64 => Self::U64(a.as_primitive()),
            other => {
                return Err(format!(
                    "column {name} has type {other}, expected an integer"
                ))
            }
        })
    }

    /// Row `i`; `None` when null.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<i64> {
        fn at<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, i: usize) -> Option<T::Native> {
            a.is_valid(i).then(|| a.value(i))
        }
        match self {
            Self::I8(a) => at(a, i).map(i64::from),
            Self::I16(a) => at(a, i).map(i64::from),
            Self::I32(a) => at(a, i).map(i64::from),
            Self::I64(a) => at(a, i),
            Self::U8(a) => at(a, i).map(i64::from),
            Self::U16(a) => at(a, i).map(i64::from),
            Self::U32(a) => at(a, i).map(i64::from),
            Self::U64(a) => at(a, i).map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        }
    }
}

/// A timestamp column read as µs since the epoch: a timestamp of any unit (its time zone
/// only changes how it is shown), or a plain integer taken as µs.
pub(crate) enum TsCol<'a> {
    Scaled(&'a dyn Array, fn(&dyn Array, usize) -> i64),
    Int(IntCol<'a>),
}

impl<'a> TsCol<'a> {
    /// The column `name` of `batch`, or what is wrong with it.
    pub(crate) fn of(batch: &'a RecordBatch, name: &str) -> Result<Self, String> {
        let a = batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name}"))?;
        fn micros(a: &dyn Array, i: usize) -> i64 {
            a.as_primitive::<TimestampMicrosecondType>().value(i)
        }
        fn millis(a: &dyn Array, i: usize) -> i64 {
            a.as_primitive::<TimestampMillisecondType>()
                .value(i)
                .saturating_mul(1_000)
        }
        fn seconds(a: &dyn Array, i: usize) -> i64 {
            a.as_primitive::<TimestampSecondType>()
                .value(i)
                .saturating_mul(1_000_000)
        }
        fn nanos(a: &dyn Array, i: usize) -> i64 {
            a.as_primitive::<TimestampNanosecondType>().value(i) / 1_000
        }
        Ok(match a.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => Self::Scaled(a.as_ref(), micros),
            DataType::Timestamp(TimeUnit::Millisecond, _) => Self::Scaled(a.as_ref(), millis),
            DataType::Timestamp(TimeUnit::Second, _) => Self::Scaled(a.as_ref(), seconds),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Self::Scaled(a.as_ref(), nanos),
            DataType::Int64 | DataType::UInt64 | DataType::Int32 | DataType::UInt32 => {
                Self::Int(IntCol::of(batch, name)?)
            }
            other => {
                return Err(format!(
                    "column {name} has type {other}, expected a timestamp"
                ))
            }
        })
    }

    /// Row `i` in µs; `None` when null.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<i64> {
        match self {
            Self::Scaled(a, f) => a.is_valid(i).then(|| f(*a, i)),
            Self::Int(c) => c.get(i),
        }
    }
}
