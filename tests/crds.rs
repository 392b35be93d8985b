//! The committed CRDs in `crds/` must be exactly what the code generates.

use ecs_operator::api::{all_crds, crd_file_content, crd_file_name};

#[test]
fn committed_crds_match_the_code() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut expected_files = Vec::new();
    for crd in all_crds() {
        let name = crd_file_name(&crd);
        let generated = crd_file_content(&crd).expect("CRD renders as YAML");
        let committed = std::fs::read_to_string(dir.join(&name)).unwrap_or_else(|err| {
            panic!("crds/{name} is missing ({err}); run `cargo run -- crds --dir crds`")
        });
        assert!(
            committed == generated,
            "crds/{name} differs from what the code generates; run `cargo run -- crds --dir crds` and commit the result"
        );
        expected_files.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "crds/ holds a file the code does not generate"
    );
}
