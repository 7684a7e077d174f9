use convlab_blocks::ShapeError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("unknown architecture `{name}`; known: {known}")]
    UnknownArch { name: String, known: String },
    #[error("{arch}: knob `{knob}` {message}")]
    Knob {
        arch: String,
        knob: &'static str,
        message: String,
    },
    #[error("{arch} cannot take input {input}: {source}")]
    Shape {
        arch: String,
        input: String,
        #[source]
        source: Box<ShapeError>,
    },
    #[error("cannot parse input shape `{0}`: expected CxHxW with positive integers, e.g. 3x32x32")]
    InputShape(String),
}
