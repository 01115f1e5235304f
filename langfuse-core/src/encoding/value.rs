//! The `serde` serializer that writes values (and map keys) straight into the output.

#[allow(unused_imports)]
use super::*;
// ---------------------------------------------------------------------------
// Value serializer
// ---------------------------------------------------------------------------

pub(super) struct Ser<'a> {
    pub(super) out: &'a mut String,
    pub(super) style: JsonStyle,
    /// Number of containers currently open.
    pub(super) depth: u32,
    /// IO top level: a string outside any container is written verbatim.
    pub(super) raw_top: bool,
}

impl<'a> Ser<'a> {
    #[inline]
    fn raw_string_here(&self) -> bool {
        self.raw_top && self.depth == 0
    }

    #[inline]
    fn write_str_value(&mut self, s: &str) {
        if self.raw_string_here() {
            self.out.push_str(s);
        } else {
            write_json_str(self.out, s, self.style);
        }
    }

    /// Opens a container, or writes its depth-limit placeholder and returns
    /// `false` when it would nest deeper than [`MAX_DEPTH`].
    fn open(&mut self, kind: Kind) -> bool {
        if self.depth >= MAX_DEPTH {
            self.out.push_str(match kind {
                Kind::Map => "\"<dict>\"",
                Kind::Seq => "\"<list>\"",
            });
            false
        } else {
            self.depth += 1;
            self.out.push(match kind {
                Kind::Map => '{',
                Kind::Seq => '[',
            });
            true
        }
    }

    fn close(&mut self, kind: Kind) {
        self.depth = self.depth.saturating_sub(1);
        self.out.push(match kind {
            Kind::Map => '}',
            Kind::Seq => ']',
        });
    }

    fn compound(&mut self, kind: Kind) -> Compound<'_, 'a> {
        let state = if self.open(kind) {
            State::First
        } else {
            State::Skip
        };
        Compound {
            ser: self,
            state,
            kind,
            in_variant: false,
        }
    }

    /// `{"Variant": <container>` for tuple and struct variants.
    fn variant_compound(&mut self, variant: &str, kind: Kind) -> Compound<'_, 'a> {
        let mut state = State::Skip;
        let mut in_variant = false;
        if self.open(Kind::Map) {
            write_json_str(self.out, variant, self.style);
            self.out.push_str(self.style.key_sep());
            if self.open(kind) {
                state = State::First;
                in_variant = true;
            } else {
                self.close(Kind::Map);
            }
        }
        Compound {
            ser: self,
            state,
            kind,
            in_variant,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Map,
    Seq,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Over the depth limit: the placeholder is written, contents ignored.
    Skip,
    First,
    Rest,
}

pub(super) struct Compound<'s, 'a> {
    ser: &'s mut Ser<'a>,
    state: State,
    kind: Kind,
    /// Also close the `{"Variant": ` wrapper on end.
    in_variant: bool,
}

impl Compound<'_, '_> {
    /// Writes the item separator if needed; `false` when contents are skipped.
    #[inline]
    fn begin_item(&mut self) -> bool {
        match self.state {
            State::Skip => false,
            State::First => {
                self.state = State::Rest;
                true
            }
            State::Rest => {
                self.ser.out.push_str(self.ser.style.item_sep());
                true
            }
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if self.begin_item() {
            value.serialize(&mut *self.ser)
        } else {
            Ok(())
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        if self.begin_item() {
            write_json_str(self.ser.out, key, self.ser.style);
            self.ser.out.push_str(self.ser.style.key_sep());
            value.serialize(&mut *self.ser)
        } else {
            Ok(())
        }
    }

    fn finish(self) -> Result<(), Error> {
        if self.state != State::Skip {
            self.ser.close(self.kind);
            if self.in_variant {
                self.ser.close(Kind::Map);
            }
        }
        Ok(())
    }
}

impl<'s, 'a> ser::Serializer for &'s mut Ser<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'s, 'a>;
    type SerializeTuple = Compound<'s, 'a>;
    type SerializeTupleStruct = Compound<'s, 'a>;
    type SerializeTupleVariant = Compound<'s, 'a>;
    type SerializeMap = Compound<'s, 'a>;
    type SerializeStruct = Compound<'s, 'a>;
    type SerializeStructVariant = Compound<'s, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write_i64(self.out, v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        write_i128(self.out, v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write_u64(self.out, v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        write_u128(self.out, v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        write_py_float(self.out, v);
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        write_py_float(self.out, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut buf = [0u8; 4];
        self.write_str_value(v.encode_utf8(&mut buf));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.write_str_value(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // Like Python's `bytes.decode("utf-8")`; always a quoted JSON string.
        match core::str::from_utf8(v) {
            Ok(s) => write_json_str(self.out, s, self.style),
            Err(_) => self.out.push_str("\"<not serializable bytes>\""),
        }
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        // An enum is not a plain string, so it is quoted even at IO top level.
        write_json_str(self.out, variant, self.style);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if !self.open(Kind::Map) {
            return Ok(());
        }
        write_json_str(self.out, variant, self.style);
        self.out.push_str(self.style.key_sep());
        value.serialize(&mut *self)?;
        self.close(Kind::Map);
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Seq))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Seq))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Seq))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.variant_compound(variant, Kind::Seq))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Map))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Map))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.variant_compound(variant, Kind::Map))
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        if self.raw_string_here() {
            write!(self.out, "{value}").map_err(|_| Error)
        } else {
            write_display_str(self.out, value, self.style)
        }
    }
}

/// Sequences and tuples of every kind write their elements the same way.
macro_rules! sequence_like {
    ($($trait:ident :: $method:ident),*) => {$(
        impl $trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }

            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

sequence_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        if self.begin_item() {
            key.serialize(KeySer {
                out: &mut *self.ser.out,
                style: self.ser.style,
            })?;
            self.ser.out.push_str(self.ser.style.key_sep());
        }
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if self.state == State::Skip {
            Ok(())
        } else {
            value.serialize(&mut *self.ser)
        }
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

// ---------------------------------------------------------------------------
// Map key serializer
// ---------------------------------------------------------------------------

/// Writes a map key as a quoted JSON string: strings as they are, integers,
/// booleans, chars and floats stringified (as Python's `json.dumps` and
/// `serde_json` do); any other key is an error.
pub(super) struct KeySer<'a> {
    out: &'a mut String,
    style: JsonStyle,
}

impl KeySer<'_> {
    fn quoted<D: Display>(self, v: D) -> Result<(), Error> {
        let _ = write!(self.out, "\"{v}\"");
        Ok(())
    }

    fn float<F: PyFloat>(self, v: F) -> Result<(), Error> {
        if v.is_nan() || v.is_infinite() {
            // Already a quoted string.
            write_py_float(self.out, v);
        } else {
            self.out.push('"');
            write_py_float(self.out, v);
            self.out.push('"');
        }
        Ok(())
    }
}

impl ser::Serializer for KeySer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v)
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v)
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut buf = [0u8; 4];
        write_json_str(self.out, v.encode_utf8(&mut buf), self.style);
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_json_str(self.out, v, self.style);
        Ok(())
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_json_str(self.out, variant, self.style);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(Error)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error)
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        write_display_str(self.out, value, self.style)
    }
}
