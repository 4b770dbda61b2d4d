//! Model families. Each family is a folder; its networks are burn modules built from typed configs.

pub mod gan;
