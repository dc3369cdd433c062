//! The README's tables follow the catalogue they describe.

use cowlab_model::Mutant;

const README: &str = include_str!("../README.md");

#[test]
fn the_readme_lists_every_mutant_of_the_catalogue_and_no_other() {
    let section = README
        .split("\n## Mutants\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Mutants section");
    let listed: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let catalogue: Vec<&str> = Mutant::ALL.iter().map(|m| m.facts().name).collect();
    assert_eq!(listed, catalogue);
}
