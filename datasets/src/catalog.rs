//! The named datasets convlab knows: shapes, class names, the files training reads and how
//! each is verified, where they can be downloaded, and where they live on disk.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::cifar::CifarKind;
use crate::error::{DataError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Cifar10,
    Cifar100,
    Mnist,
    FashionMnist,
}

impl DatasetName {
    pub const ALL: [DatasetName; 4] = [
        DatasetName::Cifar10,
        DatasetName::Cifar100,
        DatasetName::Mnist,
        DatasetName::FashionMnist,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DatasetName::Cifar10 => "cifar10",
            DatasetName::Cifar100 => "cifar100",
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
        }
    }

    /// Images in the training and the test split.
    pub fn split_sizes(self) -> (usize, usize) {
        match self {
            DatasetName::Cifar10 | DatasetName::Cifar100 => (50_000, 10_000),
            DatasetName::Mnist | DatasetName::FashionMnist => (60_000, 10_000),
        }
    }

    pub fn shape(self) -> [usize; 3] {
        match self {
            DatasetName::Cifar10 | DatasetName::Cifar100 => [3, 32, 32],
            DatasetName::Mnist | DatasetName::FashionMnist => [1, 28, 28],
        }
    }

    pub fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            DatasetName::Cifar10 => &[
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ],
            DatasetName::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetName::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            DatasetName::Cifar100 => return (0..100).map(|i| format!("fine-{i}")).collect(),
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Sub-folder of the data directory holding the files.
    pub fn folder(self) -> &'static str {
        match self {
            DatasetName::Cifar10 => "cifar-10-batches-bin",
            DatasetName::Cifar100 => "cifar-100-binary",
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
        }
    }

    /// The files training reads, with what verifies them.
    pub fn files(self) -> Vec<DataFile> {
        match self {
            DatasetName::Cifar10 => (1..=5)
                .map(|i| DataFile::cifar(format!("data_batch_{i}.bin"), 10_000, CifarKind::Cifar10))
                .chain([DataFile::cifar(
                    "test_batch.bin".into(),
                    10_000,
                    CifarKind::Cifar10,
                )])
                .collect(),
            DatasetName::Cifar100 => vec![
                DataFile::cifar("train.bin".into(), 50_000, CifarKind::Cifar100),
                DataFile::cifar("test.bin".into(), 10_000, CifarKind::Cifar100),
            ],
            DatasetName::Mnist => IDX_FILES
                .iter()
                .zip(MNIST_GZ_MD5)
                .zip(IDX_RAW_LEN)
                .map(|((f, md5), len)| DataFile::idx(f, md5, None, len))
                .collect(),
            DatasetName::FashionMnist => IDX_FILES
                .iter()
                .zip(FASHION_GZ_MD5)
                .zip(FASHION_RAW_MD5)
                .zip(IDX_RAW_LEN)
                .map(|(((f, md5), raw), len)| DataFile::idx(f, md5, Some(raw), len))
                .collect(),
        }
    }

    /// Where the files can be downloaded from (archives are unpacked into the data directory).
    pub fn remote(self) -> Remote {
        match self {
            DatasetName::Cifar10 => Remote::Archive {
                url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                file: "cifar-10-binary.tar.gz",
                md5: "c32a1d4ab5d03f1284b67883e8d87530",
            },
            DatasetName::Cifar100 => Remote::Archive {
                url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                file: "cifar-100-binary.tar.gz",
                md5: "03b5dce01913d631647c71ecec9e9cb8",
            },
            DatasetName::Mnist => Remote::Files {
                base_urls: &[
                    "https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "http://yann.lecun.com/exdb/mnist/",
                ],
            },
            DatasetName::FashionMnist => Remote::Files {
                base_urls: &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
            },
        }
    }

    /// The Debian package that installs the files in [`Self::system_dirs`]; `fetch` takes them
    /// from it (without root) when upstream's server cannot be reached.
    pub fn debian_package(self) -> Option<&'static str> {
        match self {
            DatasetName::FashionMnist => Some("dataset-fashion-mnist"),
            _ => None,
        }
    }

    /// Folders searched besides the data directory (Debian's `dataset-fashion-mnist`).
    pub fn system_dirs(self) -> Vec<PathBuf> {
        match self {
            DatasetName::FashionMnist => vec![PathBuf::from("/usr/share/datasets/fashion-mnist")],
            _ => vec![],
        }
    }
}

const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];
/// Upstream's decompressed sizes (the same for MNIST and Fashion-MNIST): 60,000 and 10,000
/// images of 28×28 after a 16-byte header, labels after an 8-byte one.
const IDX_RAW_LEN: [usize; 4] = [47_040_016, 60_008, 7_840_016, 10_008];
const MNIST_GZ_MD5: [&str; 4] = [
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
];
const FASHION_GZ_MD5: [&str; 4] = [
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "25c81989df183df01b3e8a0aad5dffbe",
    "bef4ecab320f06d8554ea6380940ec79",
    "bb300cfdad3c16e7a12a480ee83cd310",
];
/// MD5 of the decompressed IDX bytes: redistributors (Debian) re-compress the `.gz` files.
const FASHION_RAW_MD5: [&str; 4] = [
    "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "9018921c3c673c538a1fc5bad174d6f9",
    "8181f5470baa50b63fa0f6fddb340f0a",
    "15d484375f8d13e6eb1aabb0c3f46965",
];

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        let k = s.trim().to_ascii_lowercase().replace(['_', '-'], "");
        DatasetName::ALL
            .into_iter()
            .find(|d| d.name().replace('-', "") == k)
            .ok_or_else(|| DataError::UnknownDataset {
                name: s.to_string(),
                known: DatasetName::ALL.map(|d| d.name()).join(", "),
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    /// One archive, checked by MD5, unpacked into the data directory.
    Archive {
        url: &'static str,
        file: &'static str,
        md5: &'static str,
    },
    /// Each file's `.gz` under one of these base URLs.
    Files { base_urls: &'static [&'static str] },
}

/// How one file of a dataset is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// CIFAR binary: exact record count (size) and every label in range.
    Cifar { records: usize, kind: CifarKind },
    /// IDX: the upstream `.gz` MD5, or the MD5 of the decompressed bytes where known, and the
    /// decompressed size of upstream's file.
    Idx {
        gz_md5: &'static str,
        raw_md5: Option<&'static str>,
        raw_len: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// File name without `.gz` for IDX files (both `name` and `name.gz` are accepted).
    pub name: String,
    pub check: Check,
}

impl DataFile {
    fn cifar(name: String, records: usize, kind: CifarKind) -> Self {
        DataFile {
            name,
            check: Check::Cifar { records, kind },
        }
    }
    fn idx(
        name: &str,
        gz_md5: &'static str,
        raw_md5: Option<&'static str>,
        raw_len: usize,
    ) -> Self {
        DataFile {
            name: name.to_string(),
            check: Check::Idx {
                gz_md5,
                raw_md5,
                raw_len,
            },
        }
    }
}

/// Where datasets live: `--data-dir`, else `$CONVLAB_DATA`, else the per-user cache.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("CONVLAB_DATA").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("convlab")
        .join("data")
}

/// The error for a file that is not there: which file, where to put it, where to get it.
pub fn missing_error(dataset: DatasetName, dir: &Path, file: &DataFile) -> DataError {
    DataError::Missing {
        path: dir.join(dataset.folder()).join(&file.name),
        hint: place_hint(dataset, dir, file, true),
    }
}

/// Where to put `file` and where to get it; with `suggest_fetch`, also the `data fetch` command
/// (with `--data-dir` when `dir` is not the default), which a failed fetch does not repeat.
pub fn place_hint(
    dataset: DatasetName,
    dir: &Path,
    file: &DataFile,
    suggest_fetch: bool,
) -> String {
    let target = dir.join(dataset.folder());
    let fetch = if !suggest_fetch {
        String::new()
    } else if dir == data_dir(None) {
        format!(", or run `convlab data fetch {dataset}`")
    } else {
        format!(
            ", or run `convlab data fetch {dataset} --data-dir {}`",
            dir.display()
        )
    };
    match dataset.remote() {
        Remote::Archive {
            url,
            file: archive,
            md5,
        } => {
            format!(
                "download {url} (md5 {md5}) and unpack it in {} (so that {} exists){fetch}",
                dir.display(),
                target.join(&file.name).display(),
            ) + &format!(
                "; the archive may also be placed at {}",
                dir.join(archive).display()
            )
        }
        Remote::Files { base_urls } => format!(
            "place {}.gz (from {}{}.gz) in {}{fetch}{}",
            file.name,
            base_urls[0],
            file.name,
            target.display(),
            if dataset == DatasetName::FashionMnist {
                "; on Debian, `apt-get install dataset-fashion-mnist` installs it for every user"
            } else {
                ""
            }
        ),
    }
}
