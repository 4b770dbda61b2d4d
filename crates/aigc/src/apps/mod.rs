//! Applications built on the trained models: fixed-form poetry and a character chat.

pub mod chat;
pub mod poem;
