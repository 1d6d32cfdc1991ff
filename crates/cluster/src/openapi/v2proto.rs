//! The protobuf encoding of `/openapi/v2`.
//!
//! kubectl asks for `/openapi/v2` as
//! `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` (for
//! example to validate a `kind: List`) and decodes the body as gnostic's
//! `openapi.v2.Document` message. This module turns the Swagger 2.0 JSON
//! document into that message.
//!
//! The messages below mirror the subset of gnostic's `OpenAPIv2.proto` that
//! ferry's documents use, with the same field numbers and wire types, so
//! that any decoder of the full schema reads them. Fields left out (security
//! definitions, external docs, XML, response headers and examples, contact
//! and license) are simply absent from the encoding, which protobuf allows.
//!
//! Free-form values (`default`, `example`, `enum` members and `x-*` vendor
//! extensions) are `Any { yaml }` messages. gnostic stores the YAML text of
//! the value there; ferry stores its JSON text, which YAML parsers read the
//! same way.

use std::fmt;

use prost::Message;
use serde_json::{Map, Value};

/// Why a Swagger document could not be encoded: a member has a JSON type
/// the Swagger 2.0 schema does not allow.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A member has the wrong JSON type.
    #[error("{at}: expected {expected}")]
    WrongType {
        /// Where, as a JSON pointer.
        at: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A parameter's `in` is none of `body`, `query`, `path`, `header`,
    /// `formData`.
    #[error("{at}: unknown parameter location {location:?}")]
    UnknownLocation {
        /// Where the parameter is, as a JSON pointer.
        at: String,
        /// The location found.
        location: String,
    },
}

/// Encodes a Swagger 2.0 document (as served at `/openapi/v2`) as the
/// protobuf bytes of gnostic's `openapi.v2.Document`.
pub fn encode(swagger: &Value) -> Result<Vec<u8>, EncodeError> {
    Ok(document(swagger, &At::ROOT)?.encode_to_vec())
}

// ---------------------------------------------------------------------------
// Messages (package `openapi.v2`). Field numbers are those of gnostic's
// OpenAPIv2.proto; do not renumber.
// ---------------------------------------------------------------------------

/// `openapi.v2.Document`.
#[derive(Clone, PartialEq, Message)]
pub struct Document {
    /// The Swagger version (`2.0`).
    #[prost(string, tag = "1")]
    pub swagger: String,
    /// General information about the API.
    #[prost(message, optional, tag = "2")]
    pub info: Option<Info>,
    /// The host serving the API.
    #[prost(string, tag = "3")]
    pub host: String,
    /// The base path of the API.
    #[prost(string, tag = "4")]
    pub base_path: String,
    /// Transfer protocols.
    #[prost(string, repeated, tag = "5")]
    pub schemes: Vec<String>,
    /// Media types accepted.
    #[prost(string, repeated, tag = "6")]
    pub consumes: Vec<String>,
    /// Media types produced.
    #[prost(string, repeated, tag = "7")]
    pub produces: Vec<String>,
    /// The operations, by path.
    #[prost(message, optional, tag = "8")]
    pub paths: Option<Paths>,
    /// The schemas, by definition name.
    #[prost(message, optional, tag = "9")]
    pub definitions: Option<Definitions>,
    /// Shared parameters, by name.
    #[prost(message, optional, tag = "10")]
    pub parameters: Option<ParameterDefinitions>,
    /// `x-*` members.
    #[prost(message, repeated, tag = "16")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.Info`.
#[derive(Clone, PartialEq, Message)]
pub struct Info {
    /// The API's title.
    #[prost(string, tag = "1")]
    pub title: String,
    /// The API's version.
    #[prost(string, tag = "2")]
    pub version: String,
    /// A longer description.
    #[prost(string, tag = "3")]
    pub description: String,
    /// The terms of service.
    #[prost(string, tag = "4")]
    pub terms_of_service: String,
    /// `x-*` members.
    #[prost(message, repeated, tag = "7")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.Any`: a free-form value as YAML text.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    /// The value as YAML (here: JSON) text.
    #[prost(string, tag = "2")]
    pub yaml: String,
}

/// `openapi.v2.NamedAny`: one member of a map of free-form values.
#[derive(Clone, PartialEq, Message)]
pub struct NamedAny {
    /// The key.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Any>,
}

/// `openapi.v2.Paths`.
#[derive(Clone, PartialEq, Message)]
pub struct Paths {
    /// `x-*` members.
    #[prost(message, repeated, tag = "1")]
    pub vendor_extension: Vec<NamedAny>,
    /// The path items, in document order.
    #[prost(message, repeated, tag = "2")]
    pub path: Vec<NamedPathItem>,
}

/// `openapi.v2.NamedPathItem`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedPathItem {
    /// The path (`/apis/apps/v1/namespaces/{namespace}/deployments`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its operations.
    #[prost(message, optional, tag = "2")]
    pub value: Option<PathItem>,
}

/// `openapi.v2.PathItem`.
#[derive(Clone, PartialEq, Message)]
pub struct PathItem {
    /// `$ref`.
    #[prost(string, tag = "1")]
    pub r#ref: String,
    /// GET.
    #[prost(message, optional, tag = "2")]
    pub get: Option<Operation>,
    /// PUT.
    #[prost(message, optional, tag = "3")]
    pub put: Option<Operation>,
    /// POST.
    #[prost(message, optional, tag = "4")]
    pub post: Option<Operation>,
    /// DELETE.
    #[prost(message, optional, tag = "5")]
    pub delete: Option<Operation>,
    /// OPTIONS.
    #[prost(message, optional, tag = "6")]
    pub options: Option<Operation>,
    /// HEAD.
    #[prost(message, optional, tag = "7")]
    pub head: Option<Operation>,
    /// PATCH.
    #[prost(message, optional, tag = "8")]
    pub patch: Option<Operation>,
    /// Parameters shared by the operations.
    #[prost(message, repeated, tag = "9")]
    pub parameters: Vec<ParametersItem>,
    /// `x-*` members.
    #[prost(message, repeated, tag = "10")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.Operation`.
#[derive(Clone, PartialEq, Message)]
pub struct Operation {
    /// Tags.
    #[prost(string, repeated, tag = "1")]
    pub tags: Vec<String>,
    /// A short summary.
    #[prost(string, tag = "2")]
    pub summary: String,
    /// A description.
    #[prost(string, tag = "3")]
    pub description: String,
    /// The operation id.
    #[prost(string, tag = "5")]
    pub operation_id: String,
    /// Media types produced.
    #[prost(string, repeated, tag = "6")]
    pub produces: Vec<String>,
    /// Media types consumed (kubectl reads the patch types here).
    #[prost(string, repeated, tag = "7")]
    pub consumes: Vec<String>,
    /// Parameters.
    #[prost(message, repeated, tag = "8")]
    pub parameters: Vec<ParametersItem>,
    /// Responses, by status code.
    #[prost(message, optional, tag = "9")]
    pub responses: Option<Responses>,
    /// Transfer protocols.
    #[prost(string, repeated, tag = "10")]
    pub schemes: Vec<String>,
    /// Whether the operation is deprecated.
    #[prost(bool, tag = "11")]
    pub deprecated: bool,
    /// `x-*` members (`x-kubernetes-action`,
    /// `x-kubernetes-group-version-kind`).
    #[prost(message, repeated, tag = "13")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.ParametersItem`: a parameter or a reference to one.
#[derive(Clone, PartialEq, Message)]
pub struct ParametersItem {
    /// Which.
    #[prost(oneof = "parameters_item::Oneof", tags = "1, 2")]
    pub oneof: Option<parameters_item::Oneof>,
}

/// The choices of [`ParametersItem`].
pub mod parameters_item {
    /// A parameter or a reference to one.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        /// An inline parameter.
        #[prost(message, tag = "1")]
        Parameter(Box<super::Parameter>),
        /// `{"$ref": ...}`.
        #[prost(message, tag = "2")]
        JsonReference(super::JsonReference),
    }
}

/// `openapi.v2.JsonReference`.
#[derive(Clone, PartialEq, Message)]
pub struct JsonReference {
    /// `$ref`.
    #[prost(string, tag = "1")]
    pub r#ref: String,
    /// A description.
    #[prost(string, tag = "2")]
    pub description: String,
}

/// `openapi.v2.Parameter`: a body or non-body parameter.
#[derive(Clone, PartialEq, Message)]
pub struct Parameter {
    /// Which.
    #[prost(oneof = "parameter::Oneof", tags = "1, 2")]
    pub oneof: Option<parameter::Oneof>,
}

/// The choices of [`Parameter`].
pub mod parameter {
    /// A body or non-body parameter.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        /// `in: body`.
        #[prost(message, tag = "1")]
        BodyParameter(super::BodyParameter),
        /// `in: query`, `path`, `header` or `formData`.
        #[prost(message, tag = "2")]
        NonBodyParameter(super::NonBodyParameter),
    }
}

/// `openapi.v2.BodyParameter`.
#[derive(Clone, PartialEq, Message)]
pub struct BodyParameter {
    /// A description.
    #[prost(string, tag = "1")]
    pub description: String,
    /// The name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// `body`.
    #[prost(string, tag = "3")]
    pub r#in: String,
    /// Whether it is required.
    #[prost(bool, tag = "4")]
    pub required: bool,
    /// The body's schema.
    #[prost(message, optional, tag = "5")]
    pub schema: Option<Schema>,
    /// `x-*` members.
    #[prost(message, repeated, tag = "6")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.NonBodyParameter`.
#[derive(Clone, PartialEq, Message)]
pub struct NonBodyParameter {
    /// Which.
    #[prost(oneof = "non_body_parameter::Oneof", tags = "1, 2, 3, 4")]
    pub oneof: Option<non_body_parameter::Oneof>,
}

/// The choices of [`NonBodyParameter`].
pub mod non_body_parameter {
    /// A parameter by location. gnostic has one message per location;
    /// header and path parameters share one field layout, and so do form
    /// and query parameters, so each pair shares a Rust type here.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        /// `in: header` (`HeaderParameterSubSchema`).
        #[prost(message, tag = "1")]
        Header(super::PathParameterSubSchema),
        /// `in: formData` (`FormDataParameterSubSchema`).
        #[prost(message, tag = "2")]
        FormData(super::QueryParameterSubSchema),
        /// `in: query` (`QueryParameterSubSchema`).
        #[prost(message, tag = "3")]
        Query(super::QueryParameterSubSchema),
        /// `in: path` (`PathParameterSubSchema`).
        #[prost(message, tag = "4")]
        Path(super::PathParameterSubSchema),
    }
}

/// `openapi.v2.QueryParameterSubSchema`, whose layout
/// `FormDataParameterSubSchema` shares.
#[derive(Clone, PartialEq, Message)]
pub struct QueryParameterSubSchema {
    /// Whether it is required.
    #[prost(bool, tag = "1")]
    pub required: bool,
    /// The location.
    #[prost(string, tag = "2")]
    pub r#in: String,
    /// A description.
    #[prost(string, tag = "3")]
    pub description: String,
    /// The name.
    #[prost(string, tag = "4")]
    pub name: String,
    /// Whether an empty value may be sent.
    #[prost(bool, tag = "5")]
    pub allow_empty_value: bool,
    /// The type.
    #[prost(string, tag = "6")]
    pub r#type: String,
    /// The format.
    #[prost(string, tag = "7")]
    pub format: String,
    /// Array items.
    #[prost(message, optional, tag = "8")]
    pub items: Option<PrimitivesItems>,
    /// How arrays are written.
    #[prost(string, tag = "9")]
    pub collection_format: String,
    /// The default.
    #[prost(message, optional, tag = "10")]
    pub default: Option<Any>,
    /// `maximum`.
    #[prost(double, tag = "11")]
    pub maximum: f64,
    /// `exclusiveMaximum`.
    #[prost(bool, tag = "12")]
    pub exclusive_maximum: bool,
    /// `minimum`.
    #[prost(double, tag = "13")]
    pub minimum: f64,
    /// `exclusiveMinimum`.
    #[prost(bool, tag = "14")]
    pub exclusive_minimum: bool,
    /// `maxLength`.
    #[prost(int64, tag = "15")]
    pub max_length: i64,
    /// `minLength`.
    #[prost(int64, tag = "16")]
    pub min_length: i64,
    /// `pattern`.
    #[prost(string, tag = "17")]
    pub pattern: String,
    /// `maxItems`.
    #[prost(int64, tag = "18")]
    pub max_items: i64,
    /// `minItems`.
    #[prost(int64, tag = "19")]
    pub min_items: i64,
    /// `uniqueItems`.
    #[prost(bool, tag = "20")]
    pub unique_items: bool,
    /// `enum`.
    #[prost(message, repeated, tag = "21")]
    pub r#enum: Vec<Any>,
    /// `multipleOf`.
    #[prost(double, tag = "22")]
    pub multiple_of: f64,
    /// `x-*` members.
    #[prost(message, repeated, tag = "23")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.PathParameterSubSchema`, whose layout
/// `HeaderParameterSubSchema` shares.
#[derive(Clone, PartialEq, Message)]
pub struct PathParameterSubSchema {
    /// Whether it is required.
    #[prost(bool, tag = "1")]
    pub required: bool,
    /// The location.
    #[prost(string, tag = "2")]
    pub r#in: String,
    /// A description.
    #[prost(string, tag = "3")]
    pub description: String,
    /// The name.
    #[prost(string, tag = "4")]
    pub name: String,
    /// The type.
    #[prost(string, tag = "5")]
    pub r#type: String,
    /// The format.
    #[prost(string, tag = "6")]
    pub format: String,
    /// Array items.
    #[prost(message, optional, tag = "7")]
    pub items: Option<PrimitivesItems>,
    /// How arrays are written.
    #[prost(string, tag = "8")]
    pub collection_format: String,
    /// The default.
    #[prost(message, optional, tag = "9")]
    pub default: Option<Any>,
    /// `maximum`.
    #[prost(double, tag = "10")]
    pub maximum: f64,
    /// `exclusiveMaximum`.
    #[prost(bool, tag = "11")]
    pub exclusive_maximum: bool,
    /// `minimum`.
    #[prost(double, tag = "12")]
    pub minimum: f64,
    /// `exclusiveMinimum`.
    #[prost(bool, tag = "13")]
    pub exclusive_minimum: bool,
    /// `maxLength`.
    #[prost(int64, tag = "14")]
    pub max_length: i64,
    /// `minLength`.
    #[prost(int64, tag = "15")]
    pub min_length: i64,
    /// `pattern`.
    #[prost(string, tag = "16")]
    pub pattern: String,
    /// `maxItems`.
    #[prost(int64, tag = "17")]
    pub max_items: i64,
    /// `minItems`.
    #[prost(int64, tag = "18")]
    pub min_items: i64,
    /// `uniqueItems`.
    #[prost(bool, tag = "19")]
    pub unique_items: bool,
    /// `enum`.
    #[prost(message, repeated, tag = "20")]
    pub r#enum: Vec<Any>,
    /// `multipleOf`.
    #[prost(double, tag = "21")]
    pub multiple_of: f64,
    /// `x-*` members.
    #[prost(message, repeated, tag = "22")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.PrimitivesItems`: the items of an array parameter.
#[derive(Clone, PartialEq, Message)]
pub struct PrimitivesItems {
    /// The type.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// The format.
    #[prost(string, tag = "2")]
    pub format: String,
    /// Nested array items.
    #[prost(message, optional, boxed, tag = "3")]
    pub items: Option<Box<PrimitivesItems>>,
    /// How arrays are written.
    #[prost(string, tag = "4")]
    pub collection_format: String,
    /// The default.
    #[prost(message, optional, tag = "5")]
    pub default: Option<Any>,
    /// `maximum`.
    #[prost(double, tag = "6")]
    pub maximum: f64,
    /// `exclusiveMaximum`.
    #[prost(bool, tag = "7")]
    pub exclusive_maximum: bool,
    /// `minimum`.
    #[prost(double, tag = "8")]
    pub minimum: f64,
    /// `exclusiveMinimum`.
    #[prost(bool, tag = "9")]
    pub exclusive_minimum: bool,
    /// `maxLength`.
    #[prost(int64, tag = "10")]
    pub max_length: i64,
    /// `minLength`.
    #[prost(int64, tag = "11")]
    pub min_length: i64,
    /// `pattern`.
    #[prost(string, tag = "12")]
    pub pattern: String,
    /// `maxItems`.
    #[prost(int64, tag = "13")]
    pub max_items: i64,
    /// `minItems`.
    #[prost(int64, tag = "14")]
    pub min_items: i64,
    /// `uniqueItems`.
    #[prost(bool, tag = "15")]
    pub unique_items: bool,
    /// `enum`.
    #[prost(message, repeated, tag = "16")]
    pub r#enum: Vec<Any>,
    /// `multipleOf`.
    #[prost(double, tag = "17")]
    pub multiple_of: f64,
    /// `x-*` members.
    #[prost(message, repeated, tag = "18")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.ParameterDefinitions`.
#[derive(Clone, PartialEq, Message)]
pub struct ParameterDefinitions {
    /// The parameters, by name.
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedParameter>,
}

/// `openapi.v2.NamedParameter`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedParameter {
    /// The key.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The parameter.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Parameter>,
}

/// `openapi.v2.Responses`.
#[derive(Clone, PartialEq, Message)]
pub struct Responses {
    /// The responses, by status code (or `default`).
    #[prost(message, repeated, tag = "1")]
    pub response_code: Vec<NamedResponseValue>,
    /// `x-*` members.
    #[prost(message, repeated, tag = "2")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.NamedResponseValue`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedResponseValue {
    /// The status code.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The response.
    #[prost(message, optional, tag = "2")]
    pub value: Option<ResponseValue>,
}

/// `openapi.v2.ResponseValue`: a response or a reference to one.
#[derive(Clone, PartialEq, Message)]
pub struct ResponseValue {
    /// Which.
    #[prost(oneof = "response_value::Oneof", tags = "1, 2")]
    pub oneof: Option<response_value::Oneof>,
}

/// The choices of [`ResponseValue`].
pub mod response_value {
    /// A response or a reference to one.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        /// An inline response.
        #[prost(message, tag = "1")]
        Response(Box<super::Response>),
        /// `{"$ref": ...}`.
        #[prost(message, tag = "2")]
        JsonReference(super::JsonReference),
    }
}

/// `openapi.v2.Response`.
#[derive(Clone, PartialEq, Message)]
pub struct Response {
    /// A description.
    #[prost(string, tag = "1")]
    pub description: String,
    /// The body's schema.
    #[prost(message, optional, tag = "2")]
    pub schema: Option<SchemaItem>,
    /// `x-*` members.
    #[prost(message, repeated, tag = "5")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.SchemaItem`. Only its `schema` choice (tag 1) is used;
/// `file_schema` (tag 2) is not.
#[derive(Clone, PartialEq, Message)]
pub struct SchemaItem {
    /// Which.
    #[prost(oneof = "schema_item::Oneof", tags = "1")]
    pub oneof: Option<schema_item::Oneof>,
}

/// The choices of [`SchemaItem`].
pub mod schema_item {
    /// A schema.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        /// A JSON schema.
        #[prost(message, tag = "1")]
        Schema(super::Schema),
    }
}

/// `openapi.v2.Definitions`.
#[derive(Clone, PartialEq, Message)]
pub struct Definitions {
    /// The schemas, by definition name.
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

/// `openapi.v2.Properties`.
#[derive(Clone, PartialEq, Message)]
pub struct Properties {
    /// The property schemas, by property name.
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

/// `openapi.v2.NamedSchema`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedSchema {
    /// The key.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The schema.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Schema>,
}

/// `openapi.v2.TypeItem`: `type`, a name or a list of names.
#[derive(Clone, PartialEq, Message)]
pub struct TypeItem {
    /// The type names.
    #[prost(string, repeated, tag = "1")]
    pub value: Vec<String>,
}

/// `openapi.v2.ItemsItem`: `items`, a schema or a list of schemas.
#[derive(Clone, PartialEq, Message)]
pub struct ItemsItem {
    /// The schemas.
    #[prost(message, repeated, tag = "1")]
    pub schema: Vec<Schema>,
}

/// `openapi.v2.AdditionalPropertiesItem`: a schema or a boolean.
#[derive(Clone, PartialEq, Message)]
pub struct AdditionalPropertiesItem {
    /// Which.
    #[prost(oneof = "additional_properties_item::Oneof", tags = "1, 2")]
    pub oneof: Option<additional_properties_item::Oneof>,
}

/// The choices of [`AdditionalPropertiesItem`].
pub mod additional_properties_item {
    /// A schema or a boolean.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Oneof {
        /// The schema of every additional property.
        #[prost(message, tag = "1")]
        Schema(Box<super::Schema>),
        /// Whether additional properties are allowed.
        #[prost(bool, tag = "2")]
        Boolean(bool),
    }
}

/// `openapi.v2.Schema`.
#[derive(Clone, PartialEq, Message)]
pub struct Schema {
    /// `$ref`.
    #[prost(string, tag = "1")]
    pub r#ref: String,
    /// `format`.
    #[prost(string, tag = "2")]
    pub format: String,
    /// `title`.
    #[prost(string, tag = "3")]
    pub title: String,
    /// `description`.
    #[prost(string, tag = "4")]
    pub description: String,
    /// `default`.
    #[prost(message, optional, tag = "5")]
    pub default: Option<Any>,
    /// `multipleOf`.
    #[prost(double, tag = "6")]
    pub multiple_of: f64,
    /// `maximum`.
    #[prost(double, tag = "7")]
    pub maximum: f64,
    /// `exclusiveMaximum`.
    #[prost(bool, tag = "8")]
    pub exclusive_maximum: bool,
    /// `minimum`.
    #[prost(double, tag = "9")]
    pub minimum: f64,
    /// `exclusiveMinimum`.
    #[prost(bool, tag = "10")]
    pub exclusive_minimum: bool,
    /// `maxLength`.
    #[prost(int64, tag = "11")]
    pub max_length: i64,
    /// `minLength`.
    #[prost(int64, tag = "12")]
    pub min_length: i64,
    /// `pattern`.
    #[prost(string, tag = "13")]
    pub pattern: String,
    /// `maxItems`.
    #[prost(int64, tag = "14")]
    pub max_items: i64,
    /// `minItems`.
    #[prost(int64, tag = "15")]
    pub min_items: i64,
    /// `uniqueItems`.
    #[prost(bool, tag = "16")]
    pub unique_items: bool,
    /// `maxProperties`.
    #[prost(int64, tag = "17")]
    pub max_properties: i64,
    /// `minProperties`.
    #[prost(int64, tag = "18")]
    pub min_properties: i64,
    /// `required`.
    #[prost(string, repeated, tag = "19")]
    pub required: Vec<String>,
    /// `enum`.
    #[prost(message, repeated, tag = "20")]
    pub r#enum: Vec<Any>,
    /// `additionalProperties`.
    #[prost(message, optional, tag = "21")]
    pub additional_properties: Option<AdditionalPropertiesItem>,
    /// `type`.
    #[prost(message, optional, tag = "22")]
    pub r#type: Option<TypeItem>,
    /// `items`.
    #[prost(message, optional, tag = "23")]
    pub items: Option<ItemsItem>,
    /// `allOf`.
    #[prost(message, repeated, tag = "24")]
    pub all_of: Vec<Schema>,
    /// `properties`.
    #[prost(message, optional, tag = "25")]
    pub properties: Option<Properties>,
    /// `discriminator`.
    #[prost(string, tag = "26")]
    pub discriminator: String,
    /// `readOnly`.
    #[prost(bool, tag = "27")]
    pub read_only: bool,
    /// `example`.
    #[prost(message, optional, tag = "30")]
    pub example: Option<Any>,
    /// `x-*` members (`x-kubernetes-group-version-kind`,
    /// `x-kubernetes-patch-merge-key`, ...).
    #[prost(message, repeated, tag = "31")]
    pub vendor_extension: Vec<NamedAny>,
}

// ---------------------------------------------------------------------------
// Conversion from JSON.
// ---------------------------------------------------------------------------

/// A location in the JSON document, built only into a string when an error
/// is reported (the document has tens of thousands of nodes).
struct At<'a> {
    parent: Option<&'a At<'a>>,
    key: &'a str,
}

impl At<'_> {
    const ROOT: At<'static> = At { parent: None, key: "" };

    fn child<'b>(&'b self, key: &'b str) -> At<'b> {
        At { parent: Some(self), key }
    }

    fn wrong(&self, expected: &'static str) -> EncodeError {
        EncodeError::WrongType { at: self.to_string(), expected }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parent {
            None => Ok(()),
            Some(parent) => {
                parent.fmt(f)?;
                // JSON pointer escaping (RFC 6901): `~` then `/`.
                write!(f, "/{}", self.key.replace('~', "~0").replace('/', "~1"))
            }
        }
    }
}

/// The members of a JSON object, or an error naming what was expected.
fn object<'v>(v: &'v Value, at: &At<'_>, what: &'static str) -> Result<&'v Map<String, Value>, EncodeError> {
    v.as_object().ok_or_else(|| at.wrong(what))
}

/// Typed reads of optional members of one JSON object; absent members read
/// as protobuf defaults (which protobuf does not encode).
struct Fields<'v, 'a> {
    map: &'v Map<String, Value>,
    at: &'a At<'a>,
}

impl<'v> Fields<'v, '_> {
    fn new<'a>(v: &'v Value, at: &'a At<'a>, what: &'static str) -> Result<Fields<'v, 'a>, EncodeError> {
        Ok(Fields { map: object(v, at, what)?, at })
    }

    fn string(&self, key: &str) -> Result<String, EncodeError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.at.child(key).wrong("a string")),
        }
    }

    fn boolean(&self, key: &str) -> Result<bool, EncodeError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.at.child(key).wrong("a boolean")),
        }
    }

    fn double(&self, key: &str) -> Result<f64, EncodeError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(0.0),
            Some(v) => v.as_f64().ok_or_else(|| self.at.child(key).wrong("a number")),
        }
    }

    fn int(&self, key: &str) -> Result<i64, EncodeError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v.as_i64().ok_or_else(|| self.at.child(key).wrong("an integer")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, EncodeError> {
        let at = self.at.child(key);
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| at.wrong("an array of strings")))
                .collect(),
            Some(_) => Err(at.wrong("an array of strings")),
        }
    }

    fn any(&self, key: &str) -> Option<Any> {
        self.map.get(key).map(any)
    }

    fn anys(&self, key: &str) -> Result<Vec<Any>, EncodeError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.iter().map(any).collect()),
            Some(_) => Err(self.at.child(key).wrong("an array")),
        }
    }

    /// Runs `f` on the member `key` if present.
    fn optional<T>(
        &self,
        key: &str,
        f: impl FnOnce(&'v Value, &At<'_>) -> Result<T, EncodeError>,
    ) -> Result<Option<T>, EncodeError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => f(v, &self.at.child(key)).map(Some),
        }
    }

    /// Runs `f` on each element of the array member `key`.
    fn each<T>(
        &self,
        key: &str,
        mut f: impl FnMut(&'v Value, &At<'_>) -> Result<T, EncodeError>,
    ) -> Result<Vec<T>, EncodeError> {
        let at = self.at.child(key);
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let index = i.to_string();
                    f(v, &at.child(&index))
                })
                .collect(),
            Some(_) => Err(at.wrong("an array")),
        }
    }

    /// Runs `f` on each member of the object member `key`, in document
    /// order.
    fn named<T>(
        &self,
        key: &str,
        mut f: impl FnMut(&'v str, &'v Value, &At<'_>) -> Result<T, EncodeError>,
    ) -> Result<Option<Vec<T>>, EncodeError> {
        self.optional(key, |v, at| {
            object(v, at, "an object")?.iter().map(|(name, v)| f(name, v, &at.child(name))).collect()
        })
    }

    /// The `x-*` members.
    fn vendor_extensions(&self) -> Vec<NamedAny> {
        self.map
            .iter()
            .filter(|(k, _)| k.starts_with("x-"))
            .map(|(k, v)| NamedAny { name: k.clone(), value: Some(any(v)) })
            .collect()
    }
}

fn any(v: &Value) -> Any {
    // JSON text is YAML; kubectl parses `yaml` with a YAML parser.
    Any { yaml: v.to_string() }
}

fn document(v: &Value, at: &At<'_>) -> Result<Document, EncodeError> {
    let f = Fields::new(v, at, "a Swagger 2.0 document (an object)")?;
    Ok(Document {
        swagger: f.string("swagger")?,
        info: f.optional("info", info)?,
        host: f.string("host")?,
        base_path: f.string("basePath")?,
        schemes: f.strings("schemes")?,
        consumes: f.strings("consumes")?,
        produces: f.strings("produces")?,
        paths: f.optional("paths", paths)?,
        definitions: f
            .named("definitions", named_schema)?
            .map(|additional_properties| Definitions { additional_properties }),
        parameters: f
            .named("parameters", |name, v, at| {
                Ok(NamedParameter { name: name.to_owned(), value: Some(parameter(v, at)?) })
            })?
            .map(|additional_properties| ParameterDefinitions { additional_properties }),
        vendor_extension: f.vendor_extensions(),
    })
}

fn info(v: &Value, at: &At<'_>) -> Result<Info, EncodeError> {
    let f = Fields::new(v, at, "an object")?;
    Ok(Info {
        title: f.string("title")?,
        version: f.string("version")?,
        description: f.string("description")?,
        terms_of_service: f.string("termsOfService")?,
        vendor_extension: f.vendor_extensions(),
    })
}

fn paths(v: &Value, at: &At<'_>) -> Result<Paths, EncodeError> {
    let f = Fields::new(v, at, "an object")?;
    let path = f
        .map
        .iter()
        .filter(|(k, _)| !k.starts_with("x-"))
        .map(|(name, v)| Ok(NamedPathItem { name: name.clone(), value: Some(path_item(v, &at.child(name))?) }))
        .collect::<Result<_, EncodeError>>()?;
    Ok(Paths { vendor_extension: f.vendor_extensions(), path })
}

fn path_item(v: &Value, at: &At<'_>) -> Result<PathItem, EncodeError> {
    let f = Fields::new(v, at, "an object")?;
    Ok(PathItem {
        r#ref: f.string("$ref")?,
        get: f.optional("get", operation)?,
        put: f.optional("put", operation)?,
        post: f.optional("post", operation)?,
        delete: f.optional("delete", operation)?,
        options: f.optional("options", operation)?,
        head: f.optional("head", operation)?,
        patch: f.optional("patch", operation)?,
        parameters: f.each("parameters", parameters_item)?,
        vendor_extension: f.vendor_extensions(),
    })
}

fn operation(v: &Value, at: &At<'_>) -> Result<Operation, EncodeError> {
    let f = Fields::new(v, at, "an object")?;
    Ok(Operation {
        tags: f.strings("tags")?,
        summary: f.string("summary")?,
        description: f.string("description")?,
        operation_id: f.string("operationId")?,
        produces: f.strings("produces")?,
        consumes: f.strings("consumes")?,
        parameters: f.each("parameters", parameters_item)?,
        responses: f.optional("responses", responses)?,
        schemes: f.strings("schemes")?,
        deprecated: f.boolean("deprecated")?,
        vendor_extension: f.vendor_extensions(),
    })
}

fn json_reference(f: &Fields<'_, '_>) -> Result<JsonReference, EncodeError> {
    Ok(JsonReference { r#ref: f.string("$ref")?, description: f.string("description")? })
}

fn parameters_item(v: &Value, at: &At<'_>) -> Result<ParametersItem, EncodeError> {
    let f = Fields::new(v, at, "an object")?;
    let oneof = if f.map.contains_key("$ref") {
        parameters_item::Oneof::JsonReference(json_reference(&f)?)
    } else {
        parameters_item::Oneof::Parameter(Box::new(parameter(v, at)?))
    };
    Ok(ParametersItem { oneof: Some(oneof) })
}

fn parameter(v: &Value, at: &At<'_>) -> Result<Parameter, EncodeError> {
    use non_body_parameter::Oneof as NonBody;
    let f = Fields::new(v, at, "an object")?;
    let location = f.string("in")?;
    let oneof = match location.as_str() {
        "body" => parameter::Oneof::BodyParameter(BodyParameter {
            description: f.string("description")?,
            name: f.string("name")?,
            r#in: location,
            required: f.boolean("required")?,
            schema: f.optional("schema", schema)?,
            vendor_extension: f.vendor_extensions(),
        }),
        "query" => parameter::Oneof::NonBodyParameter(NonBodyParameter {
            oneof: Some(NonBody::Query(query_like(&f, location)?)),
        }),
        "formData" => parameter::Oneof::NonBodyParameter(NonBodyParameter {
            oneof: Some(NonBody::FormData(query_like(&f, location)?)),
        }),
        "path" => parameter::Oneof::NonBodyParameter(NonBodyParameter {
            oneof: Some(NonBody::Path(path_like(&f, location)?)),
        }),
        "header" => parameter::Oneof::NonBodyParameter(NonBodyParameter {
            oneof: Some(NonBody::Header(path_like(&f, location)?)),
        }),
        _ => return Err(EncodeError::UnknownLocation { at: at.to_string(), location }),
    };
    Ok(Parameter { oneof: Some(oneof) })
}

fn query_like(f: &Fields<'_, '_>, location: String) -> Result<QueryParameterSubSchema, EncodeError> {
    Ok(QueryParameterSubSchema {
        required: f.boolean("required")?,
        r#in: location,
        description: f.string("description")?,
        name: f.string("name")?,
        allow_empty_value: f.boolean("allowEmptyValue")?,
        r#type: f.string("type")?,
        format: f.string("format")?,
        items: f.optional("items", primitives_items)?,
        collection_format: f.string("collectionFormat")?,
        default: f.any("default"),
        maximum: f.double("maximum")?,
        exclusive_maximum: f.boolean("exclusiveMaximum")?,
        minimum: f.double("minimum")?,
        exclusive_minimum: f.boolean("exclusiveMinimum")?,
        max_length: f.int("maxLength")?,
        min_length: f.int("minLength")?,
        pattern: f.string("pattern")?,
        max_items: f.int("maxItems")?,
        min_items: f.int("minItems")?,
        unique_items: f.boolean("uniqueItems")?,
        r#enum: f.anys("enum")?,
        multiple_of: f.double("multipleOf")?,
        vendor_extension: f.vendor_extensions(),
    })
}

fn path_like(f: &Fields<'_, '_>, location: String) -> Result<PathParameterSubSchema, EncodeError> {
    Ok(PathParameterSubSchema {
        required: f.boolean("required")?,
        r#in: location,
        description: f.string("description")?,
        name: f.string("name")?,
        r#type: f.string("type")?,
        format: f.string("format")?,
        items: f.optional("items", primitives_items)?,
        collection_format: f.string("collectionFormat")?,
        default: f.any("default"),
        maximum: f.double("maximum")?,
        exclusive_maximum: f.boolean("exclusiveMaximum")?,
        minimum: f.double("minimum")?,
        exclusive_minimum: f.boolean("exclusiveMinimum")?,
        max_length: f.int("maxLength")?,
        min_length: f.int("minLength")?,
        pattern: f.string("pattern")?,
        max_items: f.int("maxItems")?,
        min_items: f.int("minItems")?,
        unique_items: f.boolean("uniqueItems")?,
        r#enum: f.anys("enum")?,
        multiple_of: f.double("multipleOf")?,
        vendor_extension: f.vendor_extensions(),
    })
}

fn primitives_items(v: &Value, at: &At<'_>) -> Result<PrimitivesItems, EncodeError> {
    let f = Fields::new(v, at, "an object")?;
    Ok(PrimitivesItems {
        r#type: f.string("type")?,
        format: f.string("format")?,
        items: f.optional("items", primitives_items)?.map(Box::new),
        collection_format: f.string("collectionFormat")?,
        default: f.any("default"),
        maximum: f.double("maximum")?,
        exclusive_maximum: f.boolean("exclusiveMaximum")?,
        minimum: f.double("minimum")?,
        exclusive_minimum: f.boolean("exclusiveMinimum")?,
        max_length: f.int("maxLength")?,
        min_length: f.int("minLength")?,
        pattern: f.string("pattern")?,
        max_items: f.int("maxItems")?,
        min_items: f.int("minItems")?,
        unique_items: f.boolean("uniqueItems")?,
        r#enum: f.anys("enum")?,
        multiple_of: f.double("multipleOf")?,
        vendor_extension: f.vendor_extensions(),
    })
}

fn responses(v: &Value, at: &At<'_>) -> Result<Responses, EncodeError> {
    let f = Fields::new(v, at, "an object")?;
    let response_code = f
        .map
        .iter()
        .filter(|(k, _)| !k.starts_with("x-"))
        .map(|(name, v)| {
            let at = at.child(name);
            let r = Fields::new(v, &at, "an object")?;
            let oneof = if r.map.contains_key("$ref") {
                response_value::Oneof::JsonReference(json_reference(&r)?)
            } else {
                response_value::Oneof::Response(Box::new(Response {
                    description: r.string("description")?,
                    schema: r
                        .optional("schema", schema)?
                        .map(|s| SchemaItem { oneof: Some(schema_item::Oneof::Schema(s)) }),
                    vendor_extension: r.vendor_extensions(),
                }))
            };
            Ok(NamedResponseValue { name: name.clone(), value: Some(ResponseValue { oneof: Some(oneof) }) })
        })
        .collect::<Result<_, EncodeError>>()?;
    Ok(Responses { response_code, vendor_extension: f.vendor_extensions() })
}

fn named_schema(name: &str, v: &Value, at: &At<'_>) -> Result<NamedSchema, EncodeError> {
    Ok(NamedSchema { name: name.to_owned(), value: Some(schema(v, at)?) })
}

fn schema(v: &Value, at: &At<'_>) -> Result<Schema, EncodeError> {
    let f = Fields::new(v, at, "a schema (an object)")?;
    Ok(Schema {
        r#ref: f.string("$ref")?,
        format: f.string("format")?,
        title: f.string("title")?,
        description: f.string("description")?,
        default: f.any("default"),
        multiple_of: f.double("multipleOf")?,
        maximum: f.double("maximum")?,
        exclusive_maximum: f.boolean("exclusiveMaximum")?,
        minimum: f.double("minimum")?,
        exclusive_minimum: f.boolean("exclusiveMinimum")?,
        max_length: f.int("maxLength")?,
        min_length: f.int("minLength")?,
        pattern: f.string("pattern")?,
        max_items: f.int("maxItems")?,
        min_items: f.int("minItems")?,
        unique_items: f.boolean("uniqueItems")?,
        max_properties: f.int("maxProperties")?,
        min_properties: f.int("minProperties")?,
        required: f.strings("required")?,
        r#enum: f.anys("enum")?,
        additional_properties: f.optional("additionalProperties", |v, at| {
            let oneof = match v {
                Value::Bool(b) => additional_properties_item::Oneof::Boolean(*b),
                _ => additional_properties_item::Oneof::Schema(Box::new(schema(v, at)?)),
            };
            Ok(AdditionalPropertiesItem { oneof: Some(oneof) })
        })?,
        r#type: f.optional("type", |v, at| {
            let value = match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(_) => f.strings("type")?,
                _ => return Err(at.wrong("a string or an array of strings")),
            };
            Ok(TypeItem { value })
        })?,
        items: f.optional("items", |v, at| {
            let schema = match v {
                Value::Array(_) => f.each("items", schema)?,
                _ => vec![schema(v, at)?],
            };
            Ok(ItemsItem { schema })
        })?,
        all_of: f.each("allOf", schema)?,
        properties: f
            .named("properties", named_schema)?
            .map(|additional_properties| Properties { additional_properties }),
        discriminator: f.string("discriminator")?,
        read_only: f.boolean("readOnly")?,
        example: f.any("example"),
        vendor_extension: f.vendor_extensions(),
    })
}

#[cfg(test)]
mod tests;
