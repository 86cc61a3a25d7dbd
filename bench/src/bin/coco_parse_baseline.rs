//! The baseline of the COCO benchmark: a plain typed serde_json parse of a COCO instances file into
//! owned structs, the least any COCO reader has to do. `bench/run.sh` compares `cvat-cli convert` with it.

use serde::Deserialize;
use std::process::ExitCode;

#[allow(dead_code)]
#[derive(Deserialize)]
struct Coco {
    images: Vec<Image>,
    annotations: Vec<Annotation>,
    categories: Vec<Category>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Image {
    id: i64,
    width: u32,
    height: u32,
    file_name: String,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Category {
    id: i64,
    name: String,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(untagged)]
enum Segmentation {
    Polygons(Vec<Vec<f64>>),
    Rle {
        counts: serde_json::Value,
        size: Vec<u32>,
    },
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Annotation {
    id: i64,
    image_id: i64,
    category_id: i64,
    segmentation: Segmentation,
    area: f64,
    bbox: Vec<f64>,
    iscrowd: u8,
    #[serde(default)]
    attributes: std::collections::HashMap<String, serde_json::Value>,
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: coco-parse-baseline FILE.json");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    match serde_json::from_slice::<Coco>(&bytes) {
        Ok(c) => {
            println!(
                "{} images, {} annotations, {} categories",
                c.images.len(),
                c.annotations.len(),
                c.categories.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {path}: {e}");
            ExitCode::from(1)
        }
    }
}
