//! Field validation: finding fields an object sets that its schema does not
//! declare (`fieldValidation=Strict|Warn`).
