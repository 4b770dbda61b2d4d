//! Every loader, and every malformed-input class, gets a clear error naming the file.

use std::io::Write;
use std::path::Path;

use aigc::AigcError;
use aigc::data::folder::{FolderOptions, load_image_folder};
use aigc::data::idx::{encode_idx, parse_idx, read_idx_file};
use aigc::data::source::load_idx_images;
use aigc::data::{DataSource, embedded};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn message(e: AigcError) -> String {
    e.to_string()
}

#[test]
fn embedded_digits_have_the_fixed_split() {
    let splits = embedded::mnist_digits().unwrap();
    assert_eq!(splits.train.len(), 9000);
    assert_eq!(splits.heldout.len(), 1000);
    assert_eq!(splits.train.shape.len(), 784);
    let labels = splits.train.labels().unwrap();
    let mut counts = [0usize; 10];
    labels.iter().for_each(|&l| counts[l as usize] += 1);
    // Every digit is present in a realistic proportion (MNIST: 9-11% each).
    assert!(counts.iter().all(|&c| (700..1100).contains(&c)), "{counts:?}");
    // Digits are bright strokes on a dark background: mostly -1 after scaling.
    let values = splits.train.batch_values(&[0, 1, 2]);
    let dark = values.iter().filter(|&&v| v < -0.9).count() as f64 / values.len() as f64;
    assert!(dark > 0.6, "background fraction {dark}");
}

#[test]
fn idx_round_trip_raw_and_gzip() {
    let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
    let bytes = encode_idx(&[2, 3, 4], &data);
    let raw = parse_idx(&bytes, Path::new("x.idx")).unwrap();
    let zipped = parse_idx(&gz(&bytes), Path::new("x.idx.gz")).unwrap();
    assert_eq!(raw.dims, vec![2, 3, 4]);
    assert_eq!(raw.data, data);
    assert_eq!(raw, zipped);
}

#[test]
fn idx_wrong_magic_is_named() {
    let err = message(parse_idx(b"PK\x03\x04rest", Path::new("data/bad.idx")).unwrap_err());
    assert!(err.contains("data/bad.idx") && err.contains("magic"), "{err}");
    let mut bytes = encode_idx(&[1, 2, 2], &[0; 4]);
    bytes[2] = 0x0D; // float elements: not supported
    let err = message(parse_idx(&bytes, Path::new("f.idx")).unwrap_err());
    assert!(err.contains("0x0d") && err.contains("unsigned byte"), "{err}");
}

#[test]
fn idx_truncated_file_is_named() {
    let bytes = encode_idx(&[10, 28, 28], &vec![0; 10 * 784]);
    let err = message(parse_idx(&bytes[..bytes.len() - 100], Path::new("t.idx")).unwrap_err());
    assert!(err.contains("t.idx") && err.contains("truncated IDX data"), "{err}");
    let err = message(parse_idx(&bytes[..6], Path::new("t.idx")).unwrap_err());
    assert!(err.contains("truncated IDX header"), "{err}");
    let zipped = gz(&bytes);
    let err = message(parse_idx(&zipped[..zipped.len() / 2], Path::new("t.idx.gz")).unwrap_err());
    assert!(err.contains("t.idx.gz"), "{err}");
}

#[test]
fn idx_missing_file_is_named() {
    let err = message(read_idx_file(Path::new("/nonexistent/train-images-idx3-ubyte.gz")).unwrap_err());
    assert!(err.contains("/nonexistent/train-images-idx3-ubyte.gz") && err.contains("not found"), "{err}");
}

#[test]
fn idx_image_label_count_mismatch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("train-images-idx3-ubyte");
    let labels = dir.path().join("train-labels-idx1-ubyte");
    std::fs::write(&images, encode_idx(&[3, 2, 2], &[0; 12])).unwrap();
    std::fs::write(&labels, encode_idx(&[4], &[0, 1, 2, 3])).unwrap();
    let err = message(load_idx_images(&images).unwrap_err());
    assert!(err.contains("train-labels-idx1-ubyte") && err.contains("4 labels for 3 images"), "{err}");
    std::fs::write(&labels, encode_idx(&[3], &[0, 1, 2])).unwrap();
    let ok = load_idx_images(&images).unwrap();
    assert_eq!((ok.len(), ok.label(2)), (3, Some(2)));
}

#[test]
fn idx_folder_is_a_data_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train-images-idx3-ubyte.gz"), gz(&encode_idx(&[20, 4, 4], &[7; 320]))).unwrap();
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), encode_idx(&[5, 4, 4], &[9; 80])).unwrap();
    let splits = DataSource::parse(dir.path().to_str().unwrap()).load(28).unwrap();
    assert_eq!((splits.train.len(), splits.heldout.len()), (20, 5));
    assert_eq!(splits.heldout.image(0)[0], 9);
}

fn write_png(path: &Path, img: image::DynamicImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

#[test]
fn image_folder_grayscale_resized_and_labelled() {
    let dir = tempfile::tempdir().unwrap();
    // 40×30 gray images, centre-cropped to 30×30 then resized to 16×16.
    for (class, value) in [("cats", 200u8), ("dogs", 50u8)] {
        for i in 0..3 {
            let img = image::GrayImage::from_pixel(40, 30, image::Luma([value]));
            write_png(&dir.path().join(class).join(format!("{i}.png")), image::DynamicImage::ImageLuma8(img));
        }
    }
    let data = load_image_folder(dir.path(), FolderOptions { size: 16, channels: None }).unwrap();
    assert_eq!(data.len(), 6);
    assert_eq!((data.shape.channels, data.shape.height, data.shape.width), (1, 16, 16));
    assert_eq!(data.class_names, vec!["cats", "dogs"]);
    assert_eq!(data.label(0), Some(0));
    assert_eq!(data.label(5), Some(1));
    assert!(data.image(0).iter().all(|&p| p.abs_diff(200) <= 1));
    assert!(data.image(5).iter().all(|&p| p.abs_diff(50) <= 1));
}

#[test]
fn image_folder_rgb_jpeg_keeps_colour() {
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_pixel(32, 32, image::Rgb([250, 10, 10]));
    image::DynamicImage::ImageRgb8(img).save(dir.path().join("red.jpg")).unwrap();
    let data = load_image_folder(dir.path(), FolderOptions { size: 8, channels: None }).unwrap();
    assert_eq!(data.shape.channels, 3);
    assert!(data.labels().is_none());
    let px = data.image(0);
    assert!(px[0] > 200 && px[64] < 60 && px[128] < 60, "{} {} {}", px[0], px[64], px[128]);
}

#[test]
fn image_folder_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let opts = FolderOptions { size: 28, channels: None };
    let err = message(load_image_folder(dir.path(), opts).unwrap_err());
    assert!(err.contains("no PNG/JPEG images") && err.contains(&dir.path().display().to_string()), "{err}");

    let missing = dir.path().join("nope");
    let err = message(load_image_folder(&missing, opts).unwrap_err());
    assert!(err.contains("nope") && err.contains("not found"), "{err}");

    std::fs::write(dir.path().join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = message(load_image_folder(dir.path(), opts).unwrap_err());
    assert!(err.contains("broken.png") && err.contains("unreadable image"), "{err}");
}

#[test]
fn unknown_data_path_is_named() {
    let err = message(DataSource::parse("/no/such/folder").load(28).unwrap_err());
    assert!(err.contains("/no/such/folder") && err.contains("`data` expects"), "{err}");
}

#[test]
fn fashion_mnist_loads_or_says_how_to_install() {
    match DataSource::FashionMnist.load(28) {
        Ok(splits) => {
            assert_eq!((splits.train.len(), splits.heldout.len()), (60000, 10000));
            assert_eq!(splits.train.class_names[9], "Ankle boot");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("apt-get install dataset-fashion-mnist"), "{msg}");
        }
    }
}
