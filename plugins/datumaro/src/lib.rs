//! "Datumaro 1.0" JSON.
