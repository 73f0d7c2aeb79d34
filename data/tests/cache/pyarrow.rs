//! Interop: pyarrow reads a part as written (types, nulls, metadata, values). Skipped only with MARNET_SKIP_PYARROW=1; a
//! missing pyarrow otherwise fails (CI installs it into a venv first on PATH).

use std::process::Command;

use marnet_data::cache::{part_file_name, CacheWriter};

use crate::common::{lcg_rows, metadata};

const SCRIPT: &str = r#"
import struct, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(t.schema.field("x_v").type)
print(t.schema.field("x_s").type)
print(t.column("x_s").null_count)
print(t.column("x_v").null_count)
print(t.schema.metadata[b"marnet.d_v"].decode())
print(pq.ParquetFile(sys.argv[1]).metadata.metadata[b"marnet.image_model"].decode())
print(t.schema.field("split").type)
print(",".join(t.column("split").to_pylist()))
print(",".join(map(str, t.column("label").to_pylist())))
print(t.column("id")[2].as_py())
print(struct.pack("<f", t.column("x_v")[2].as_py()[767]).hex())
print(t.column("x_s")[3].as_py())
print(",".join(str(v is not None) for v in t.column("x_s").to_pylist()))
print(t.num_rows, t.column_names)
"#;

#[test]
fn pyarrow_reads_the_part_types_nulls_and_metadata() {
    if std::env::var("MARNET_SKIP_PYARROW").as_deref() == Ok("1") {
        eprintln!("NOTICE: MARNET_SKIP_PYARROW=1, skipping the pyarrow interop test");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = CacheWriter::create_or_resume(tmp.path(), metadata(768, 16), 1).unwrap();
    // 5 rows: row 3 has no text (3 % 4 == 3)
    let rows = lcg_rows(0, 5, 768, 16, 11);
    w.write_part(0, &rows).unwrap();
    let part = tmp.path().join(part_file_name(0, 1));
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(&part)
        .output()
        .expect("python3 must be on PATH (or set MARNET_SKIP_PYARROW=1)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python3 with pyarrow failed (install pyarrow or set MARNET_SKIP_PYARROW=1):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let x_v_bits = hex_le(rows.x_v[[2, 767]]);
    let expected = [
        "fixed_size_list<element: float>[768]",
        "fixed_size_list<element: float>[16]",
        "1",
        "0",
        "768",
        "google/vit-base-patch16-224-in21k",
        "dictionary<values=string, indices=int32, ordered=0>",
        "train,val,test,train,val",
        "0,1,2,0,1",
        "img/2.jpg",
        x_v_bits.as_str(),
        "None",
        "True,True,True,False,True",
        "5 ['id', 'split', 'label', 'x_v', 'x_s']",
    ];
    assert_eq!(lines, expected);
}

fn hex_le(v: f32) -> String {
    v.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
}
