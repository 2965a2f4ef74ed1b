//! The language-neutral model a client is generated from: methods, named structs and
//! string enums, and [`Ty`] for everything else.

use std::collections::BTreeMap;
use std::path::PathBuf;


/// A type as the emitters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `number`.
    Number,
    /// `boolean`.
    Boolean,
    /// `null` (a method returning nothing).
    Null,
    /// Anything (no type in the schema, or a construct the generator does not model).
    Any,
    /// `T` or null.
    Nullable(Box<Ty>),
    /// Array of `T`.
    List(Box<Ty>),
    /// Object with arbitrary keys and `T` values.
    Map(Box<Ty>),
    /// A struct or enum of [`Api::types`], by name.
    Named(String),
}

impl Ty {
    /// Wraps in [`Ty::Nullable`] unless already nullable (or null, or any).
    pub(super) fn nullable(self) -> Ty {
        match self {
            Ty::Nullable(_) | Ty::Null | Ty::Any => self,
            other => Ty::Nullable(Box::new(other)),
        }
    }

    pub(super) fn rename(&mut self, names: &BTreeMap<String, String>) {
        match self {
            Ty::Nullable(inner) | Ty::List(inner) | Ty::Map(inner) => inner.rename(names),
            Ty::Named(key) => {
                if let Some(name) = names.get(key) {
                    *key = name.clone();
                }
            }
            _ => {}
        }
    }
}

/// A property of a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The JSON key.
    pub name: String,
    /// Its description.
    pub doc: Option<String>,
    /// Its type (nullable when the schema allows null).
    pub ty: Ty,
    /// Whether the key must be present.
    pub required: bool,
}

/// One value of a string enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValue {
    /// The string.
    pub value: String,
    /// Its description (from `oneOf` variants with `const`).
    pub doc: Option<String>,
}

/// What a named type is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeKind {
    /// An object with known properties, sorted by key.
    Struct(Vec<Field>),
    /// A string enum, values in schema order.
    Enum(Vec<EnumValue>),
}

/// A named type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDef {
    /// Its name, unique across the API.
    pub name: String,
    /// Its description.
    pub doc: Option<String>,
    /// Struct or enum.
    pub kind: TypeKind,
}

/// One RPC method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Full method name, e.g. `terminal.input`.
    pub name: String,
    /// Its documentation.
    pub doc: Option<String>,
    /// The plugin serving it (`system` for the host's own methods).
    pub plugin: String,
    /// Params type; `None` when the method takes no params (`{}` is sent).
    pub params: Option<Ty>,
    /// Result type.
    pub result: Ty,
}

/// Everything a client is generated from.
#[derive(Debug, Clone)]
pub struct Api {
    /// The API version hash (the contract's `api_version` of the plugins' methods).
    pub version: String,
    /// Methods sorted by name, the host's `system.*` methods included.
    pub methods: Vec<Method>,
    /// Named types sorted by name.
    pub types: Vec<TypeDef>,
    /// Schema constructs typed as "any", one line each.
    pub warnings: Vec<String>,
    /// Final name of each `$defs` entry, by (root, def name); roots are method index * 2
    /// (+1 for the result). Used to hoist `$defs` into OpenRPC components.
    pub(super) def_names: BTreeMap<(usize, String), String>,
    /// Final name of each root schema that became a named type.
    pub(super) root_names: BTreeMap<usize, String>,
}

/// Name of the plugin that owns the host's own methods in the model.
pub const SYSTEM_PLUGIN: &str = "system";

impl Api {
    /// The named type called `name`.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.iter().find(|t| t.name == name)
    }

    /// The method called `name`.
    pub fn method(&self, name: &str) -> Option<&Method> {
        self.methods.iter().find(|m| m.name == name)
    }
}

/// A generated file: path relative to the output folder, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Relative path, e.g. `api.ts`.
    pub path: PathBuf,
    /// Contents.
    pub text: String,
}
