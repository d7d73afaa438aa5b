//! The page's ES modules (`ui/*.js`) import each other without a cycle: a module that imports one that
//! imports it back sees half-initialised bindings, depending on which loads first. Read from the source
//! (no npm): every `import … from "./x.js"` and `import "./x.js"` statement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

fn ui() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui")
}

/// The relative modules a file imports. A statement may span lines; it ends at its quoted specifier.
fn imports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut statement: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if statement.is_none()
            && (line.starts_with("import ")
                || (line.starts_with("export ") && line.contains(" from ")))
        {
            statement = Some(String::new());
        }
        let Some(s) = statement.as_mut() else {
            continue;
        };
        s.push_str(line);
        s.push(' ');
        let quoted: Vec<&str> = s.split(['"', '\'']).collect();
        if quoted.len() >= 3 {
            let spec = quoted[quoted.len() - 2];
            if let Some(name) = spec.strip_prefix("./") {
                out.push(name.to_string());
            }
            statement = None;
        }
    }
    out
}

fn graph() -> BTreeMap<String, Vec<String>> {
    std::fs::read_dir(ui())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "js"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, imports(&std::fs::read_to_string(&p).unwrap()))
        })
        .collect()
}

/// A cycle through `node`, if one is reachable from it (depth-first, with the path kept).
fn cycle(
    g: &BTreeMap<String, Vec<String>>,
    node: &str,
    path: &mut Vec<String>,
    done: &mut Vec<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|n| n == node) {
        let mut c = path[i..].to_vec();
        c.push(node.to_string());
        return Some(c);
    }
    if done.iter().any(|n| n == node) {
        return None;
    }
    path.push(node.to_string());
    for next in g.get(node).into_iter().flatten() {
        if let Some(c) = cycle(g, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.push(node.to_string());
    None
}

#[test]
fn the_import_graph_has_no_cycle() {
    let g = graph();
    assert!(g.contains_key("app.js") && g.len() > 3, "{g:?}");
    for (module, deps) in &g {
        for d in deps {
            assert!(
                g.contains_key(d),
                "{module} imports {d}, which is not in ui/"
            );
        }
    }
    let mut done = Vec::new();
    for module in g.keys() {
        if let Some(c) = cycle(&g, module, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", c.join(" → "));
        }
    }
}

#[test]
fn every_module_is_reached_from_the_page() {
    let html = std::fs::read_to_string(ui().join("index.html")).unwrap();
    assert!(html.contains(r#"<script type="module" src="app.js">"#));
    let g = graph();
    let mut reached = vec!["app.js".to_string()];
    let mut i = 0;
    while i < reached.len() {
        for d in g.get(&reached[i]).into_iter().flatten() {
            if !reached.contains(d) {
                reached.push(d.clone());
            }
        }
        i += 1;
    }
    let unreached: Vec<&String> = g.keys().filter(|m| !reached.contains(m)).collect();
    assert!(unreached.is_empty(), "never loaded: {unreached:?}");
}

#[test]
fn the_reader_finds_every_form_of_import() {
    let text = "import { a,\n  b } from \"./one.js\";\nimport './two.js';\nexport { c } from \"./three.js\";\n\
                import { d } from \"https://elsewhere/x.js\";\nconst s = \"import x\";\n";
    assert_eq!(imports(text), ["one.js", "two.js", "three.js"]);
    let cyclic: BTreeMap<String, Vec<String>> = [
        ("a.js".to_string(), vec!["b.js".to_string()]),
        ("b.js".to_string(), vec!["a.js".to_string()]),
    ]
    .into();
    let c = cycle(&cyclic, "a.js", &mut Vec::new(), &mut Vec::new());
    assert_eq!(c.unwrap(), ["a.js", "b.js", "a.js"]);
}
