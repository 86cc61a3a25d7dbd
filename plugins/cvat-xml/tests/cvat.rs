//! Integration tests of the CVAT XML formats.

mod util;

use util::*;

#[test]
fn dump_for_debug() {
    let ds = rich_a();
    for (fmt, dir) in [("CVAT for images 1.1", "CVAT_for_images_1.1"), ("CVAT for video 1.1", "CVAT_for_video_1.1")] {
        let (files, _) = write(fmt, &ds);
        std::fs::write(format!("/tmp/cvat-{dir}.xml"), &files["annotations.xml"]).unwrap();
    }
}
