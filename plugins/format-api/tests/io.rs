//! Inputs and outputs on disk: mapped reads, and the background writer of directory outputs.

use cvat_format_api::{Input, Output, OutputKind, OutputSink};

#[test]
fn bytes_of_large_and_small_files_equal_their_contents() {
    let dir = tempfile::tempdir().unwrap();
    // one file above the mapping threshold (1 MiB), one below
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.json"), &big).unwrap();
    std::fs::write(dir.path().join("small.json"), b"{}").unwrap();
    let input = Input::open(dir.path()).unwrap();
    assert_eq!(&*input.bytes("big.json").unwrap(), &big[..]);
    assert_eq!(&*input.bytes("small.json").unwrap(), b"{}");
    assert!(input.bytes("missing.json").is_err());
    let single = Input::open(&dir.path().join("big.json")).unwrap();
    let rel = single.files()[0].clone();
    assert_eq!(&*single.bytes(&rel).unwrap(), &big[..]);
}

#[test]
fn directory_output_writes_many_files_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let mut out = Output::create(&dest, OutputKind::Dir).unwrap();
    writeln!(out.file("obj.names").unwrap(), "a").unwrap();
    for i in 0..3000 {
        out.write_file(&format!("data/{i:05}.txt"), format!("{i}\n").into_bytes())
            .unwrap();
    }
    // a sequential file after background ones
    writeln!(out.file("train.txt").unwrap(), "last").unwrap();
    assert!(!dest.exists(), "nothing appears before commit");
    out.commit().unwrap();
    assert_eq!(std::fs::read_dir(dest.join("data")).unwrap().count(), 3000);
    assert_eq!(
        std::fs::read_to_string(dest.join("data/02999.txt")).unwrap(),
        "2999\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("obj.names")).unwrap(),
        "a\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("train.txt")).unwrap(),
        "last\n"
    );
    // no temporary directory is left beside it
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_background_write_error_fails_the_commit_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let mut out = Output::create(&dest, OutputKind::Dir).unwrap();
    // "a" is a file, so "a/b.txt" cannot be created under it
    out.write_file("a", b"x".to_vec()).unwrap();
    let mut failed = None;
    for i in 0..2000 {
        if let Err(e) = out.write_file(&format!("a/{i}.txt"), b"y".to_vec()) {
            failed = Some(e);
            break;
        }
    }
    let err = match failed {
        Some(e) => e,
        None => out.commit().unwrap_err(),
    };
    assert!(err.to_string().contains("out"), "{err}");
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "temporary tree removed"
    );
}

#[test]
fn dropping_a_directory_output_with_queued_files_removes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let mut out = Output::create(&dest, OutputKind::Dir).unwrap();
    for i in 0..2000 {
        out.write_file(&format!("x/{i}.txt"), vec![b'z'; 100])
            .unwrap();
    }
    drop(out);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn unsafe_paths_are_refused_by_write_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Output::create(&dir.path().join("out"), OutputKind::Dir).unwrap();
    assert!(out.write_file("../escape.txt", b"x".to_vec()).is_err());
    assert!(out.write_file("/abs.txt", b"x".to_vec()).is_err());
}

#[test]
fn a_file_written_twice_in_the_background_keeps_its_last_contents() {
    // the writer threads take files in batches; a path must always reach the same thread
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let mut out = Output::create(&dest, OutputKind::Dir).unwrap();
    for round in 0..3 {
        for i in 0..700 {
            out.write_file(
                &format!("d{}/{i}.txt", i % 7),
                format!("{round}").into_bytes(),
            )
            .unwrap();
        }
    }
    out.commit().unwrap();
    for i in 0..700 {
        let p = dest.join(format!("d{}/{i}.txt", i % 7));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "2", "{}", p.display());
    }
}
