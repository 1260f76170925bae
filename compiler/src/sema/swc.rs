//! SWC morphologies: points with a type code, radius and parent, turned into sections.
//!
//! Conventions (documented in the README):
//! - type codes: 1 soma, 2 axon, 3 dend (basal), 4 apic (apical), any other t `custom{t}`;
//! - sections are unbranched runs of points of one type, named `<type><k>` in file order (`dend0`,
//!   `dend1`, …; `soma` for the soma). A region name in `INSERT X IN dend` matches every `dendK`;
//! - the soma is a cylinder. A one-point soma of radius r has L = diam = 2r, which gives a sphere's
//!   area, as NEURON's import does. A soma given as several points is one cylinder along their
//!   path, with the mean diameter;
//! - a section that leaves the soma attaches at soma(0.5), its centre. This is Arbor's view of a
//!   point soma. Other sections attach to their parent's end, x = 1;
//! - a section keeps its points as a profile of (arc length, diameter), so areas and axial
//!   resistances integrate over the frustums between points, as NEURON does. A section leaving
//!   the soma starts at its own first point; any other starts at its parent's last point, with
//!   that point's diameter (NEURON's Import3d). `diam` is the length-weighted mean, for messages.

use super::model::Section;

struct Point {
    /// The line of the file it was read from, 1-based.
    line: usize,
    id: i64,
    kind: i64,
    pos: [f64; 3],
    radius: f64,
    parent: i64,
}

fn type_name(kind: i64) -> String {
    match kind {
        1 => "soma".into(),
        2 => "axon".into(),
        3 => "dend".into(),
        4 => "apic".into(),
        t => format!("custom{t}"),
    }
}

fn parse(text: &str) -> Result<Vec<Point>, String> {
    let mut points = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<f64, String> {
            f.get(i).and_then(|x| x.parse::<f64>().ok()).ok_or_else(|| {
                format!(
                    "line {}: expected 7 numbers: id type x y z radius parent",
                    line_no + 1
                )
            })
        };
        let whole = |i: usize, what: &str| -> Result<i64, String> {
            let x = num(i)?;
            if x != x.trunc() || x.abs() > 1e15 {
                return Err(format!(
                    "line {}: the {what} {x} is not a whole number",
                    line_no + 1
                ));
            }
            Ok(x as i64)
        };
        let p = Point {
            line: line_no + 1,
            id: whole(0, "id")?,
            kind: whole(1, "type")?,
            // NEURON keeps 3-D points in single precision; so does hhc, so that areas and
            // resistances agree with NEURON's to rounding, not to 1e-8.
            pos: [single(num(2)?), single(num(3)?), single(num(4)?)],
            radius: num(5)?,
            parent: whole(6, "parent id")?,
        };
        if !(p.radius > 0.0 && p.radius.is_finite()) {
            return Err(format!(
                "line {}: point {} has radius {}; a radius must be positive",
                p.line, p.id, p.radius
            ));
        }
        if p.pos.iter().any(|x| !x.is_finite()) {
            return Err(format!(
                "line {}: point {} has a non-finite coordinate",
                p.line, p.id
            ));
        }
        if let Some(q) = points.iter().find(|q: &&Point| q.id == p.id) {
            return Err(format!(
                "line {}: point id {} is used twice (first on line {})",
                p.line, p.id, q.line
            ));
        }
        points.push(p);
    }
    if points.is_empty() {
        return Err("the SWC file has no points".into());
    }
    Ok(points)
}

/// `x` as NEURON's Import3d stores it: printed to 8 significant digits, then kept as an f32.
pub(super) fn single(x: f64) -> f64 {
    // Import3d writes each point as `pt3dadd(%.8g, …)`, and pt3d stores floats.
    let eight_digits: f64 = format!("{x:.7e}").parse().unwrap_or(x);
    f64::from(eight_digits as f32)
}

fn dist(a: &Point, b: &Point) -> f64 {
    (0..3)
        .map(|i| (a.pos[i] - b.pos[i]).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The sections of an SWC morphology, each with `nseg` 1 (the caller applies its rule).
pub fn sections(text: &str) -> Result<Vec<Section>, String> {
    let points = parse(text)?;
    let index = |id: i64| points.iter().position(|p| p.id == id);
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); points.len()];
    let mut root = None;
    for (i, p) in points.iter().enumerate() {
        if p.parent < 0 {
            if root.is_some() {
                return Err(format!(
                    "line {}: point {} is a second root (parent -1)",
                    p.line, p.id
                ));
            }
            root = Some(i);
        } else {
            let j = index(p.parent).ok_or_else(|| {
                format!(
                    "line {}: point {} names a missing parent {}",
                    p.line, p.id, p.parent
                )
            })?;
            if j >= i {
                return Err(format!(
                    "line {}: point {} comes before its parent {}",
                    p.line, p.id, p.parent
                ));
            }
            children[j].push(i);
        }
    }
    let root = root.ok_or("no root point (parent -1)")?;
    let mut out: Vec<Section> = Vec::new();
    let mut count: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let name_of = |kind: i64, count: &mut std::collections::HashMap<String, usize>| {
        let t = type_name(kind);
        let k = count.entry(t.clone()).or_insert(0);
        *k += 1;
        format!("{t}{}", *k - 1)
    };
    // The soma: every type-1 point reachable from the root along type-1 points.
    let mut soma_points = vec![root];
    let mut k = 0;
    while k < soma_points.len() {
        for &c in &children[soma_points[k]] {
            if points[c].kind == 1 && points[root].kind == 1 {
                soma_points.push(c);
            }
        }
        k += 1;
    }
    let soma_name = if points[root].kind == 1 {
        "soma".to_string()
    } else {
        name_of(points[root].kind, &mut count)
    };
    // A soma drawn as a chain of points from the root is a section along them, as Import3d
    // reads it; children of its first or last point join that end.
    let chain = soma_points.len() >= 2
        && soma_points.iter().all(|&p| {
            children[p]
                .iter()
                .filter(|&&c| soma_points.contains(&c))
                .count()
                <= 1
        });
    let mut soma_profile = Vec::new();
    if chain {
        let mut arc = 0.0;
        for (k, &p) in soma_points.iter().enumerate() {
            if k > 0 {
                arc += dist(&points[soma_points[k - 1]], &points[p]);
            }
            soma_profile.push((arc, single(2.0 * points[p].radius)));
        }
        if arc <= 0.0 {
            soma_profile.clear();
        }
    }
    let (length, diam) = if !soma_profile.is_empty() {
        let s = Section::along(String::new(), None, soma_profile.clone());
        (s.length, s.diam)
    } else if soma_points.len() == 1 {
        let d = 2.0 * points[root].radius;
        (d, d)
    } else {
        let len: f64 = soma_points
            .iter()
            .skip(1)
            .map(|&i| dist(&points[i], &points[index(points[i].parent).unwrap_or(root)]))
            .sum();
        let d = 2.0 * soma_points.iter().map(|&i| points[i].radius).sum::<f64>()
            / soma_points.len() as f64;
        (len.max(d), d)
    };
    out.push(Section {
        name: soma_name.clone(),
        parent: None,
        length,
        diam,
        nseg: 1,
        points: soma_profile.clone(),
    });
    let soma_end = |p: usize| -> Option<f64> {
        if soma_profile.is_empty() {
            None
        } else if p == soma_points[0] {
            Some(0.0)
        } else if Some(&p) == soma_points.last() {
            Some(1.0)
        } else {
            None
        }
    };
    // Every other section starts at a child of a point that ends a section (or of the soma).
    let mut stack: Vec<(usize, String, f64)> = Vec::new(); // (first point, parent section, x)
    for &s in &soma_points {
        for &c in &children[s] {
            if !soma_points.contains(&c) {
                stack.push((c, soma_name.clone(), soma_end(s).unwrap_or(0.5)));
            }
        }
    }
    stack.reverse();
    while let Some((first, parent, x)) = stack.pop() {
        let kind = points[first].kind;
        let name = name_of(kind, &mut count);
        let parent_point = index(points[first].parent).unwrap_or(root);
        let from_soma = soma_points.contains(&parent_point);
        // NEURON's Import3d: a section leaving the soma starts at its own first point (the
        // stretch inside the soma is not dendrite), or, leaving an end of a chain soma, at that
        // end with its own first radius; one leaving another section starts at that section's
        // last point, with its radius.
        let mut run: Vec<(usize, f64)> = if !from_soma {
            vec![(parent_point, points[parent_point].radius)]
        } else if soma_end(parent_point).is_some() {
            vec![(parent_point, points[first].radius)]
        } else {
            vec![]
        };
        let mut cur = first;
        loop {
            run.push((cur, points[cur].radius));
            let next: Vec<usize> = children[cur].clone();
            if next.len() == 1 && points[next[0]].kind == kind {
                cur = next[0];
                continue;
            }
            for &c in next.iter().rev() {
                stack.push((c, name.clone(), 1.0));
            }
            break;
        }
        if run.len() == 1 {
            // A one-point section off the soma runs from the soma's centre, at its own radius.
            run.insert(0, (parent_point, points[first].radius));
        }
        let mut profile = Vec::with_capacity(run.len());
        let mut arc = 0.0;
        for (k, &(p, r)) in run.iter().enumerate() {
            if k > 0 {
                arc += dist(&points[run[k - 1].0], &points[p]);
            }
            profile.push((arc, single(2.0 * r)));
        }
        if arc <= 0.0 {
            return Err(format!(
                "line {}: section {name} (from point {}) has zero length: its points sit at its parent's position",
                points[first].line, points[first].id
            ));
        }
        out.push(Section::along(name, Some((parent, x)), profile));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soma_and_a_forked_dendrite() {
        let swc = "# id type x y z r parent\n1 1 0 0 0 10 -1\n2 3 10 0 0 1 1\n3 3 110 0 0 1 2\n4 3 210 50 0 0.5 3\n5 3 210 -50 0 0.5 3\n";
        let s = sections(swc).expect("valid");
        let names: Vec<&str> = s.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["soma", "dend0", "dend1", "dend2"]);
        assert_eq!((s[0].length, s[0].diam), (20.0, 20.0));
        // dend0 starts at its own first point, not inside the soma (NEURON's Import3d).
        assert!((s[1].length - 100.0).abs() < 1e-12);
        assert_eq!(s[1].points, vec![(0.0, 2.0), (100.0, 2.0)]);
        assert_eq!(s[1].parent, Some(("soma".into(), 0.5)));
        assert_eq!(s[2].parent, Some(("dend0".into(), 1.0)));
        let l = (100.0f64 * 100.0 + 50.0 * 50.0).sqrt();
        assert!((s[2].length - l).abs() < 1e-12);
        assert!((s[2].diam - 1.5).abs() < 1e-12, "{}", s[2].diam);
    }

    #[test]
    fn malformed_files_say_why() {
        assert!(sections("").is_err());
        assert!(sections("1 1 0 0 0 5 -1\n2 3 0 0 0 1 7\n")
            .unwrap_err()
            .contains("missing parent"));
        assert!(sections("1 1 0 0 0\n").unwrap_err().contains("7 numbers"));
    }

    #[test]
    fn impossible_points_are_refused_with_their_line() {
        let e = sections("1 1 0 0 0 5 -1\n2 3 10 0 0 -1 1\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("radius -1"), "{e}");
        let e = sections("1 1 0 0 0 5 -1\n2 3 10 0 0 0 1\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("radius 0"), "{e}");
        let e = sections("# c\n1 1 0 0 0 5 -1\n2 3 10 0 0 1 1\n2 3 20 0 0 1 2\n").unwrap_err();
        assert!(
            e.contains("line 4") && e.contains("twice") && e.contains("line 3"),
            "{e}"
        );
        let e = sections("1 1 0 0 0 5 -1\n2 3 0 0 0 1 1\n3 1 0 0 0 1 1\n").unwrap_err();
        assert!(e.contains("zero length") && e.contains("line 2"), "{e}");
        let e = sections("1 1 0 0 0 5 -1\n2 3.5 1 0 0 1 1\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("whole number"), "{e}");
    }
}
