//! Loading a named dataset into memory, downloading what is missing when asked.

use std::path::Path;

use crate::catalog::{Check, DataFile, DatasetName, missing_error};
use crate::cifar::{self, CifarKind};
use crate::dataset::ImageSet;
use crate::download;
use crate::error::Result;
use crate::idx;
use crate::io::read;
use crate::store::{class_names_on_disk, locate, read_checked};

/// Training and test sets of a named dataset.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: ImageSet,
    pub test: ImageSet,
}

/// Loads a dataset from `dir`; with `fetch`, downloads missing files first. Without network
/// the error says which file to put where and where to get it.
pub fn load(dataset: DatasetName, dir: &Path, fetch: bool) -> Result<Splits> {
    let missing: Vec<DataFile> = dataset
        .files()
        .into_iter()
        .filter(|f| locate(dataset, f, dir).is_none())
        .collect();
    if !missing.is_empty() {
        if fetch {
            download::fetch(dataset, dir)?;
        } else {
            return Err(missing_error(dataset, dir, &missing[0]));
        }
    }
    let path_of =
        |f: &DataFile| locate(dataset, f, dir).ok_or_else(|| missing_error(dataset, dir, f));
    let files = dataset.files();
    let names = class_names_on_disk(dataset, dir).unwrap_or_else(|| dataset.class_names());
    match dataset {
        DatasetName::Cifar10 | DatasetName::Cifar100 => {
            let kind = if dataset == DatasetName::Cifar10 {
                CifarKind::Cifar10
            } else {
                CifarKind::Cifar100
            };
            let (train_files, test_file) = files.split_at(files.len() - 1);
            let read_all = |fs: &[DataFile]| -> Result<ImageSet> {
                let (mut pixels, mut labels) = (Vec::new(), Vec::new());
                for f in fs {
                    let p = path_of(f)?;
                    let Check::Cifar { records, .. } = f.check else {
                        unreachable!("cifar files")
                    };
                    let r = cifar::parse(&p, &read(&p)?, kind, Some(records))?;
                    pixels.extend(r.pixels);
                    labels.extend(r.labels);
                }
                ImageSet::new([3, 32, 32], pixels, labels, names.clone())
            };
            Ok(Splits {
                train: read_all(train_files)?,
                test: read_all(test_file)?,
            })
        }
        DatasetName::Mnist | DatasetName::FashionMnist => {
            let pair = |images: &DataFile, labels: &DataFile| -> Result<ImageSet> {
                let (ip, lp) = (path_of(images)?, path_of(labels)?);
                let (_, rows, cols, pixels, l) = idx::pair_from_bytes(
                    (&ip, &read_checked(&ip, images)?),
                    (&lp, &read_checked(&lp, labels)?),
                    names.len(),
                )?;
                ImageSet::new([1, rows, cols], pixels, l, names.clone())
            };
            Ok(Splits {
                train: pair(&files[0], &files[1])?,
                test: pair(&files[2], &files[3])?,
            })
        }
    }
}
