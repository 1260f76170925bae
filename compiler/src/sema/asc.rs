//! Neurolucida ASC morphologies (the text format of Neurolucida 3), read as NEURON's Import3d
//! reads them, into the same sections as an SWC file.
//!
//! The file is a list of S-expressions. hhc reads:
//! - the soma: a contour, `("CellBody" (CellBody) (x y z d) …)`. Like Import3d, hhc turns the
//!   outline into a centroid: the outline resampled to 101 points evenly spaced along its
//!   perimeter, its principal axis, and 21 points along that axis whose diameters are the
//!   outline's width across it (`contour_centroid`). A stack of several soma contours is
//!   refused;
//! - trees: `( (Dendrite) …)`, `( (Apical) …)`, `( (Axon) …)`, each a run of points `(x y z d)`
//!   and at its end a split `( branch | branch … )`, recursively. The fourth number is a
//!   diameter, not a radius. Each unbranched run is a section named `dend0`, `apic0`, `axon0`,
//!   … in depth-first file order. A root section attaches at `soma(0.5)` and starts at its own
//!   first point; a branch starts at its parent's last point, with the branch's own first
//!   diameter (Import3d's rule for Neurolucida, unlike SWC's);
//! - everything else (colours, names, markers such as `(Dot …)`, spines `<( … )>`, ending words
//!   such as `Normal` or `Incomplete`, other contours) is skipped.
//!
//! Points are kept in single precision, as NEURON's pt3d keeps them. Errors name the line.

use super::model::Section;
use super::swc::single;

/// One S-expression: a list (with the line of its opening parenthesis), an atom, or a `|`.
#[derive(Debug)]
enum Node {
    List(Vec<Node>, usize),
    Atom(String),
    Bar,
}

fn parse(text: &str) -> Result<Vec<Node>, String> {
    let mut stack: Vec<(Vec<Node>, usize)> = vec![(Vec::new(), 0)];
    // Depth of `< … >` spine groups being skipped.
    let mut spine = 0usize;
    for (line_no, line) in text.lines().enumerate() {
        let line_no = line_no + 1;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                ';' => break,
                '<' => spine += 1,
                '>' => spine = spine.saturating_sub(1),
                _ if spine > 0 => {}
                '(' => {
                    // Each split nests two levels; deeper files are refused before they are
                    // built, so that nothing recursive ever meets them.
                    if stack.len() > 2 * MAX_DEPTH + 8 {
                        return Err(format!(
                            "line {line_no}: lists nest more than {} deep",
                            2 * MAX_DEPTH
                        ));
                    }
                    stack.push((Vec::new(), line_no));
                }
                ')' => {
                    let (items, opened) = stack.pop().unwrap_or_default();
                    let Some(parent) = stack.last_mut() else {
                        return Err(format!("line {line_no}: `)` closes nothing"));
                    };
                    parent.0.push(Node::List(items, opened));
                }
                '|' => push_atom(&mut stack, Node::Bar),
                '"' => {
                    let mut s = String::new();
                    for d in chars.by_ref() {
                        if d == '"' {
                            break;
                        }
                        s.push(d);
                    }
                    push_atom(&mut stack, Node::Atom(format!("\"{s}\"")));
                }
                c if c.is_whitespace() || c == ',' => {}
                c => {
                    let mut s = String::from(c);
                    while let Some(&d) = chars.peek() {
                        if d.is_whitespace() || "()|;,<>\"".contains(d) {
                            break;
                        }
                        s.push(d);
                        chars.next();
                    }
                    push_atom(&mut stack, Node::Atom(s));
                }
            }
        }
    }
    if stack.len() > 1 {
        let opened = stack.last().map_or(0, |s| s.1);
        return Err(format!("line {opened}: `(` is never closed"));
    }
    Ok(stack.pop().map(|s| s.0).unwrap_or_default())
}

fn push_atom(stack: &mut [(Vec<Node>, usize)], node: Node) {
    if let Some(top) = stack.last_mut() {
        top.0.push(node);
    }
}

/// A point `(x y z d)` (further atoms, such as a section label `S1`, are ignored).
fn point(node: &Node) -> Result<Option<([f64; 3], f64)>, String> {
    let Node::List(items, line) = node else {
        return Ok(None);
    };
    let numbers: Vec<f64> = items
        .iter()
        .map_while(|n| match n {
            Node::Atom(a) => a.parse::<f64>().ok(),
            _ => None,
        })
        .collect();
    if numbers.len() < 4 {
        return Ok(None);
    }
    let p = [single(numbers[0]), single(numbers[1]), single(numbers[2])];
    let d = single(numbers[3]);
    if p.iter().any(|x| !x.is_finite()) {
        return Err(format!("line {line}: a point has a non-finite coordinate"));
    }
    Ok(Some((p, d)))
}

/// Whether a list holds the marker `(Word)` among its items.
fn has_marker(items: &[Node], word: &str) -> bool {
    items.iter().any(|n| match n {
        Node::List(inner, _) => matches!(inner.as_slice(), [Node::Atom(a)] if a == word),
        _ => false,
    })
}

/// A run of points and, at its end, the branches it splits into.
struct Branch {
    points: Vec<([f64; 3], f64, usize)>,
    children: Vec<Branch>,
}

/// Deeper splits than this are refused rather than followed (the readers recurse per level).
const MAX_DEPTH: usize = 1000;

/// Reads a tree's items (or a branch's, between bars) into a branch, `depth` splits deep.
fn branch(items: &[Node], depth: usize) -> Result<Branch, String> {
    let mut b = Branch {
        points: Vec::new(),
        children: Vec::new(),
    };
    for item in items {
        let Node::List(inner, line) = item else {
            continue;
        };
        if let Some((p, d)) = point(item)? {
            if !b.children.is_empty() {
                return Err(format!(
                    "line {line}: a point follows a split in the same branch"
                ));
            }
            if d.is_nan() || d <= 0.0 {
                return Err(format!(
                    "line {line}: a point has diameter {d}; a diameter must be positive"
                ));
            }
            b.points.push((p, d, *line));
        } else if inner.iter().any(|n| matches!(n, Node::Bar)) || is_split(inner) {
            if depth >= MAX_DEPTH {
                return Err(format!(
                    "line {line}: branches split more than {MAX_DEPTH} deep"
                ));
            }
            for part in inner.split(|n| matches!(n, Node::Bar)) {
                let child = branch(part, depth + 1)?;
                if !child.points.is_empty() {
                    b.children.push(child);
                }
            }
        }
    }
    Ok(b)
}

/// A split with a single branch has no bar: a list that starts with a point.
fn is_split(items: &[Node]) -> bool {
    matches!(items.first(), Some(n @ Node::List(..)) if point(n).ok().flatten().is_some())
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f64>().sqrt()
}

/// The sections of an ASC morphology, each with `nseg` 1 (the caller applies its rule).
pub fn sections(text: &str) -> Result<Vec<Section>, String> {
    let nodes = parse(text)?;
    let mut somas = Vec::new();
    let mut trees: Vec<(&'static str, Branch)> = Vec::new();
    for node in &nodes {
        let Node::List(items, line) = node else {
            continue;
        };
        if has_marker(items, "CellBody") {
            let mut outline = Vec::new();
            for item in items {
                if let Some((p, _)) = point(item)? {
                    outline.push(p);
                }
            }
            somas.push((outline, *line));
            continue;
        }
        let kind = if has_marker(items, "Dendrite") {
            "dend"
        } else if has_marker(items, "Apical") {
            "apic"
        } else if has_marker(items, "Axon") {
            "axon"
        } else {
            continue; // other contours, markers, text
        };
        let b = branch(items, 0)?;
        if b.points.is_empty() {
            return Err(format!("line {line}: the {kind} tree has no points"));
        }
        trees.push((kind, b));
    }
    let (outline, line) = match somas.as_slice() {
        [one] => one,
        [] => return Err("the ASC file has no soma contour (CellBody)".into()),
        [_, (_, second), ..] => {
            return Err(format!(
                "line {second}: a second soma contour; stacks of soma contours are not supported"
            ))
        }
    };
    let soma = contour_centroid(outline).map_err(|e| format!("line {line}: {e}"))?;
    let mut out = vec![profile_section("soma".into(), None, &soma)?];
    let mut count = std::collections::HashMap::new();
    for (kind, tree) in &trees {
        add_branch(&mut out, &mut count, kind, tree, None)?;
    }
    Ok(out)
}

/// A section from points `(position, diameter)`: arc lengths from the first point.
fn profile_section(
    name: String,
    parent: Option<(String, f64)>,
    points: &[([f64; 3], f64)],
) -> Result<Section, String> {
    let mut profile = Vec::with_capacity(points.len());
    let mut arc = 0.0;
    for (k, &(p, d)) in points.iter().enumerate() {
        if k > 0 {
            arc += dist(points[k - 1].0, p);
        }
        profile.push((arc, d));
    }
    if arc <= 0.0 {
        return Err(format!("section {name} has zero length"));
    }
    Ok(Section::along(name, parent, profile))
}

fn add_branch(
    out: &mut Vec<Section>,
    count: &mut std::collections::HashMap<&'static str, usize>,
    kind: &'static str,
    b: &Branch,
    parent: Option<(&str, [f64; 3])>,
) -> Result<(), String> {
    let k = count.entry(kind).or_insert(0);
    let name = format!("{kind}{k}");
    *k += 1;
    let mut points: Vec<([f64; 3], f64)> = Vec::with_capacity(b.points.len() + 1);
    let attach = match parent {
        // A branch starts at its parent's end, with its own first diameter.
        Some((p, end)) => {
            points.push((end, b.points[0].1));
            (p.to_string(), 1.0)
        }
        None => ("soma".to_string(), 0.5),
    };
    points.extend(b.points.iter().map(|&(p, d, _)| (p, d)));
    let section = profile_section(name.clone(), Some(attach), &points)
        .map_err(|e| format!("line {}: {e}", b.points[0].2))?;
    out.push(section);
    let end = b.points[b.points.len() - 1].0;
    for child in &b.children {
        add_branch(out, count, kind, child, Some((&name, end)))?;
    }
    Ok(())
}

/// Import3d's soma from an outline: the outline resampled evenly along its perimeter, its
/// centre and principal (major) axis, and 21 points along that axis with the outline's width
/// across it as diameter. Returns the points (position, diameter), in single precision.
fn contour_centroid(outline: &[[f64; 3]]) -> Result<Vec<([f64; 3], f64)>, String> {
    if outline.len() < 3 {
        return Err("a soma contour needs at least 3 points".into());
    }
    // 101 points evenly spaced along the perimeter (the closing edge excluded, as Import3d).
    let n = outline.len();
    let mut perim = vec![0.0; n];
    for i in 1..n {
        perim[i] = perim[i - 1] + dist(outline[i - 1], outline[i]);
    }
    let total = perim[n - 1];
    if total <= 0.0 {
        return Err("the soma contour has no extent".into());
    }
    let resampled: Vec<[f64; 3]> = (0..=100)
        .map(|k| {
            let s = total / 100.0 * k as f64;
            let mut out = [0.0; 3];
            for (c, o) in out.iter_mut().enumerate() {
                let ys: Vec<f64> = outline.iter().map(|p| p[c]).collect();
                *o = interpolate(&perim, &ys, s);
            }
            out
        })
        .collect();
    let mut mean = [0.0; 3];
    for p in &resampled {
        for c in 0..3 {
            mean[c] += p[c] / resampled.len() as f64;
        }
    }
    let centred: Vec<[f64; 3]> = resampled
        .iter()
        .map(|p| [p[0] - mean[0], p[1] - mean[1], p[2] - mean[2]])
        .collect();
    let mut scatter = [[0.0; 3]; 3];
    for p in &centred {
        for i in 0..3 {
            for j in 0..3 {
                scatter[i][j] += p[i] * p[j];
            }
        }
    }
    let (values, vectors) = symmetric_eigen(scatter);
    let max = (0..3)
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    let min = (0..3)
        .min_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    let column = |k: usize| [vectors[0][k], vectors[1][k], vectors[2][k]];
    let mut major = column(max);
    let largest = (0..3)
        .max_by(|&a, &b| major[a].abs().total_cmp(&major[b].abs()))
        .unwrap_or(0);
    if major[largest] < 0.0 {
        major = major.map(|x| -x);
    }
    let mut minor = column(3 - min - max);
    minor[2] = 0.0;
    let norm = dist(minor, [0.0; 3]);
    if norm < 1e-6 * dist(major, [0.0; 3]) {
        return Err("cannot find the soma contour's axes".into());
    }
    minor = minor.map(|x| x / norm);
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let mut along: Vec<f64> = centred.iter().map(|&p| dot(p, major)).collect();
    let mut across: Vec<f64> = centred.iter().map(|&p| dot(p, minor)).collect();
    // Start at the point furthest along the axis; the two sides run from the nearest point to it.
    let imax = argmax(&along);
    along.rotate_left(imax);
    across.rotate_left(imax);
    let imin = argmin(&along);
    let (mut d1, mut r1) = (along[..imin].to_vec(), across[..imin].to_vec());
    d1.reverse();
    r1.reverse();
    let (mut d2, mut r2) = (along[imin..].to_vec(), across[imin..].to_vec());
    make_increasing(&mut d1, &mut r1);
    make_increasing(&mut d2, &mut r2);
    let mut all: Vec<f64> = d1.iter().chain(&d2).copied().collect();
    all.sort_by(f64::total_cmp);
    if all.len() < 4 {
        return Err("the soma contour is too small to find its width".into());
    }
    let (lo, hi) = (all[1], all[all.len() - 2]);
    let mut points: Vec<([f64; 3], f64)> = (0..=20)
        .map(|k| {
            let t = lo + (hi - lo) / 20.0 * k as f64;
            let width = (interpolate(&d1, &r1, t) - interpolate(&d2, &r2, t)).abs();
            let p = [0, 1, 2].map(|c| single(mean[c] + major[c] * t));
            (p, width)
        })
        .collect();
    // No zero diameter at the ends.
    let last = points.len() - 1;
    points[0].1 = (points[0].1 + points[1].1) / 2.0;
    points[last].1 = (points[last].1 + points[last - 1].1) / 2.0;
    Ok(points.into_iter().map(|(p, d)| (p, single(d))).collect())
}

/// Drops points whose position along the axis does not increase, from the end backwards, as
/// Import3d makes each side of the outline convex.
fn make_increasing(d: &mut Vec<f64>, r: &mut Vec<f64>) {
    let mut j = d.len().saturating_sub(1);
    while j > 0 {
        if d[j] <= d[j - 1] {
            d.remove(j);
            r.remove(j);
            if j != d.len() {
                j += 1;
            }
        }
        j -= 1;
    }
}

/// Linear interpolation of (xs, ys) at x, xs increasing; the end values outside.
fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let n = xs.len();
    if n == 0 {
        return 0.0;
    }
    if x <= xs[0] {
        return ys[0];
    }
    if x >= xs[n - 1] {
        return ys[n - 1];
    }
    let k = xs.partition_point(|&v| v <= x).clamp(1, n - 1);
    let (x0, x1) = (xs[k - 1], xs[k]);
    if x1 > x0 {
        ys[k - 1] + (ys[k] - ys[k - 1]) * (x - x0) / (x1 - x0)
    } else {
        ys[k]
    }
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

fn argmin(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] < v[best] { i } else { best })
}

/// Eigenvalues and eigenvectors (as columns) of a symmetric 3×3 matrix, by Jacobi rotations.
fn symmetric_eigen(mut a: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..64 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        if off < 1e-300 {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-300 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            for row in &mut a {
                let (akp, akq) = (row[p], row[q]);
                row[p] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (row_p, row_q) = (a[p], a[q]);
            for k in 0..3 {
                a[p][k] = c * row_p[k] - s * row_q[k];
                a[q][k] = s * row_p[k] + c * row_q[k];
            }
            for row in &mut v {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2]], v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CELL: &str = "; a cell\n(\"CellBody\"\n (Color Red)\n (CellBody)\n ( 5 0 0 0)\n ( 0 5 0 0)\n (-5 0 0 0)\n ( 0 -5 0 0)\n)\n\
        ( (Color Green) (Dendrite)\n ( 4 0 0 2) ; Root\n ( 50 0 0 2)\n (\n  ( 60 10 0 1) Normal\n |\n  ( 60 -10 0 1.5) <( 61 -11 0 0.5)> Incomplete\n )\n)\n\
        ( (Axon) ( -4 0 0 1) ( -90 0 0 1) Normal )\n( (Dot) (Color Blue) ( 1 1 1 1) )\n";

    #[test]
    fn trees_become_sections_in_depth_first_order() {
        let s = sections(CELL).expect("valid");
        let names: Vec<&str> = s.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["soma", "dend0", "dend1", "dend2", "axon0"]);
        assert_eq!(s[1].parent, Some(("soma".into(), 0.5)));
        assert_eq!(s[2].parent, Some(("dend0".into(), 1.0)));
        assert!((s[1].length - 46.0).abs() < 1e-9);
        // A branch starts at its parent's end, with its own first diameter.
        assert_eq!(s[2].points[0], (0.0, 1.0));
        assert!((s[2].length - 200f64.sqrt()).abs() < 1e-6);
        assert_eq!(s[3].points[0].1, 1.5);
    }

    #[test]
    fn a_circular_outline_becomes_a_soma_of_its_diameter() {
        let circle: Vec<[f64; 3]> = (0..64)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 64.0 + 0.3;
                [7.0 * a.cos() + 2.0, 7.0 * a.sin() - 1.0, 0.0]
            })
            .collect();
        let pts = contour_centroid(&circle).expect("centroid");
        assert_eq!(pts.len(), 21);
        // The middle of the soma is as wide as the circle.
        assert!((pts[10].1 - 14.0).abs() < 0.1, "{}", pts[10].1);
        assert!((pts[10].0[0] - 2.0).abs() < 0.2 && (pts[10].0[1] + 1.0).abs() < 0.2);
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert!(sections("(\"CellBody\" (CellBody) (1 0 0 0)\n")
            .unwrap_err()
            .contains("line 1"));
        assert!(sections("( (Dendrite) (0 0 0 1) (5 0 0 1))")
            .unwrap_err()
            .contains("no soma"));
        let bad = CELL.replace("( 50 0 0 2)", "( 50 0 0 -2)");
        assert!(
            sections(&bad).unwrap_err().contains("line 12"),
            "{}",
            sections(&bad).unwrap_err()
        );
        let two = format!("{CELL}(\"CellBody\" (CellBody) (1 0 0 0) (0 1 0 0) (-1 0 0 0))\n");
        assert!(sections(&two).unwrap_err().contains("second soma contour"));
    }

    #[test]
    fn eigenvectors_of_a_symmetric_matrix() {
        let m = [[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 1.0]];
        let (values, vectors) = symmetric_eigen(m);
        for k in 0..3 {
            let v = [vectors[0][k], vectors[1][k], vectors[2][k]];
            for i in 0..3 {
                let mv: f64 = (0..3).map(|j| m[i][j] * v[j]).sum();
                assert!((mv - values[k] * v[i]).abs() < 1e-12);
            }
        }
    }
}
