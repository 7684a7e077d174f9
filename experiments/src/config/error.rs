//! What can be wrong with a recipe: where it was looked for, its TOML, a key and its value, an
//! `extends` cycle, an override that is no `key=value`.

use std::path::PathBuf;

use thiserror::Error;

/// The two recipes that train without network or a GPU, named wherever a newcomer is stuck.
pub const OFFLINE_START: &str = "To start without network: `convlab train lenet-fashion` (LeNet-5 on Fashion-MNIST, taken from Debian's dataset-fashion-mnist when upstream cannot be reached) or `convlab train smoke` (synthetic images, seconds)";

#[derive(Debug, Error)]
pub enum RecipeError {
    #[error(
        "unknown recipe `{name}`; known: {known} (or give a path to a .toml file). {OFFLINE_START}"
    )]
    Unknown { name: String, known: String },
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recipe `{recipe}`: TOML syntax: {message}")]
    Syntax { recipe: String, message: String },
    #[error("recipe `{recipe}`: `{key}`: {message}")]
    Field {
        recipe: String,
        key: String,
        message: String,
    },
    #[error("recipe `{recipe}`: `extends` forms a cycle through `{base}`")]
    Cycle { recipe: String, base: String },
    #[error("--set `{0}`: expected key=value, e.g. optimizer.lr=0.05")]
    Override(String),
}

pub type Result<T, E = RecipeError> = std::result::Result<T, E>;
