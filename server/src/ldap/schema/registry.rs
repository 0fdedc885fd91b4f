//! The schema as a whole: the definitions of the `.schema` files beside this module, read
//! into one registry and checked against each other (every name and OID defined once, every
//! reference resolving, the RFC 4512 rules on subtyping and class kinds), with the lookups
//! the LDAP service needs and the `matchingRuleUse` values derived from it.

use std::collections::HashMap;
use std::fmt;

use super::description::{
    is_descr, AttributeTypeDescription, ClassKind, Extension, MatchingRuleDescription,
    MatchingRuleUseDescription, ObjectClassDescription, SyntaxDescription,
};

/// One schema file: the document its definitions come from and its text.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// Published as each definition's `X-ORIGIN`, unless the definition names its own.
    pub origin: &'static str,
    pub text: &'static str,
}

/// Everything wrong with a set of schema files.
#[derive(Debug, Clone)]
pub struct SchemaError(pub Vec<String>);

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.join("; "))
    }
}

impl std::error::Error for SchemaError {}

/// A consistent set of definitions.
#[derive(Debug, Default)]
pub struct Schema {
    pub syntaxes: Vec<SyntaxDescription>,
    pub matching_rules: Vec<MatchingRuleDescription>,
    pub attribute_types: Vec<AttributeTypeDescription>,
    pub object_classes: Vec<ObjectClassDescription>,
    /// Lowercase names and OIDs to positions in the lists above.
    syntax_index: HashMap<String, usize>,
    rule_index: HashMap<String, usize>,
    type_index: HashMap<String, usize>,
    class_index: HashMap<String, usize>,
}

/// A statement of a schema file: its keyword and its description, whitespace collapsed.
fn statements(text: &str) -> Result<Vec<(String, String)>, String> {
    // Comments are whole lines, so that a `#` inside a DESC ("PKCS #12") stays text.
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let keyword_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let keyword = rest[..keyword_end].to_ascii_lowercase();
        let body = rest[keyword_end..].trim_start();
        if keyword.is_empty() || !body.starts_with('(') {
            let line = rest.lines().next().unwrap_or_default();
            return Err(format!("expected a keyword and '(' at {line:?}"));
        }
        let end = closing_paren(body).ok_or_else(|| format!("unbalanced {keyword}"))?;
        let description = body[..=end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        found.push((keyword, description));
        rest = body[end + 1..].trim_start();
    }
    Ok(found)
}

/// The byte position of the parenthesis closing the one `text` starts with, quotes skipped.
fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Adds `X-ORIGIN 'origin'` unless the definition already says where it comes from.
fn with_origin(extensions: &mut Vec<Extension>, origin: &str) {
    if !extensions.iter().any(|e| e.name == "X-ORIGIN") {
        extensions.push(Extension {
            name: "X-ORIGIN".into(),
            values: vec![origin.to_string()],
        });
    }
}

impl Schema {
    /// Reads and checks `sources`; every problem found is reported, not only the first.
    pub fn load(sources: &[Source]) -> Result<Schema, SchemaError> {
        let mut schema = Schema::default();
        let mut problems = Vec::new();
        for source in sources {
            match statements(source.text) {
                Ok(found) => {
                    for (keyword, text) in found {
                        if let Err(e) = schema.add(&keyword, &text, source.origin) {
                            problems.push(format!("{}: {e}", source.origin));
                        }
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", source.origin)),
            }
        }
        schema.build_indexes(&mut problems);
        schema.check_attribute_types(&mut problems);
        schema.check_object_classes(&mut problems);
        if problems.is_empty() {
            Ok(schema)
        } else {
            Err(SchemaError(problems))
        }
    }

    fn add(&mut self, keyword: &str, text: &str, origin: &str) -> Result<(), String> {
        match keyword {
            "ldapsyntax" => {
                let mut d = SyntaxDescription::parse(text).map_err(|e| e.to_string())?;
                with_origin(&mut d.extensions, origin);
                self.syntaxes.push(d);
            }
            "matchingrule" => {
                let mut d = MatchingRuleDescription::parse(text).map_err(|e| e.to_string())?;
                with_origin(&mut d.extensions, origin);
                self.matching_rules.push(d);
            }
            "attributetype" => {
                let mut d = AttributeTypeDescription::parse(text).map_err(|e| e.to_string())?;
                with_origin(&mut d.extensions, origin);
                self.attribute_types.push(d);
            }
            "objectclass" => {
                let mut d = ObjectClassDescription::parse(text).map_err(|e| e.to_string())?;
                with_origin(&mut d.extensions, origin);
                self.object_classes.push(d);
            }
            other => return Err(format!("unknown statement {other}")),
        }
        Ok(())
    }

    /// Indexes names and OIDs, reporting any defined twice. An OID names one definition of
    /// any kind; a name is unique among attribute types, object classes and matching rules
    /// together, as in the IANA registry of descriptors.
    fn build_indexes(&mut self, problems: &mut Vec<String>) {
        let mut oids: HashMap<String, &'static str> = HashMap::new();
        let mut names: HashMap<String, &'static str> = HashMap::new();
        let mut claim = |oid: &str, defined_names: &[String], kind: &'static str| {
            if let Some(before) = oids.insert(oid.to_string(), kind) {
                problems.push(format!("OID {oid} defined as {before} and as {kind}"));
            }
            for name in defined_names {
                if let Some(before) = names.insert(name.to_ascii_lowercase(), kind) {
                    problems.push(format!("name {name} defined as {before} and as {kind}"));
                }
            }
        };
        for (i, d) in self.syntaxes.iter().enumerate() {
            claim(&d.oid, &[], "syntax");
            self.syntax_index.insert(d.oid.clone(), i);
        }
        for (i, d) in self.matching_rules.iter().enumerate() {
            claim(&d.oid, &d.names, "matching rule");
            index(&mut self.rule_index, &d.oid, &d.names, i);
        }
        for (i, d) in self.attribute_types.iter().enumerate() {
            claim(&d.oid, &d.names, "attribute type");
            index(&mut self.type_index, &d.oid, &d.names, i);
        }
        for (i, d) in self.object_classes.iter().enumerate() {
            claim(&d.oid, &d.names, "object class");
            index(&mut self.class_index, &d.oid, &d.names, i);
        }
    }

    fn check_attribute_types(&self, problems: &mut Vec<String>) {
        for d in &self.attribute_types {
            let mut report = |what: String| problems.push(format!("{}: {what}", d.name()));
            if let Some(sup) = &d.sup {
                match self.attribute_type(sup) {
                    None => report(format!("SUP {sup} is not defined")),
                    Some(s) if s.usage != d.usage => report(format!("usage differs from {sup}")),
                    Some(s) if s.collective && !d.collective => {
                        report(format!("{sup} is collective, the subtype is not"))
                    }
                    Some(_) => {}
                }
                if self.supertypes(d).len() > self.attribute_types.len() {
                    report("the SUP chain loops".into());
                }
            }
            for rule in [&d.equality, &d.ordering, &d.substr].into_iter().flatten() {
                if self.matching_rule(rule).is_none() {
                    report(format!("matching rule {rule} is not defined"));
                }
            }
            if let Some(syntax) = &d.syntax {
                if self.syntax(syntax).is_none() {
                    report(format!("syntax {syntax} is not in ldapSyntaxes"));
                }
            }
            if d.no_user_modification && !d.usage.is_operational() {
                report("NO-USER-MODIFICATION requires an operational usage".into());
            }
            if d.collective && d.usage.is_operational() {
                report("a collective attribute type cannot be operational".into());
            }
        }
        for rule in &self.matching_rules {
            if self.syntax(&rule.syntax).is_none() {
                problems.push(format!(
                    "{}: syntax {} is not in ldapSyntaxes",
                    rule.name(),
                    rule.syntax
                ));
            }
        }
    }

    fn check_object_classes(&self, problems: &mut Vec<String>) {
        for d in &self.object_classes {
            let mut report = |what: String| problems.push(format!("{}: {what}", d.name()));
            for sup in &d.sup {
                let Some(s) = self.object_class(sup) else {
                    report(format!("SUP {sup} is not defined"));
                    continue;
                };
                // RFC 4512 §2.4: abstract classes derive from abstract ones only, structural
                // classes from no auxiliary one, auxiliary classes from no structural one.
                let allowed = match d.kind {
                    ClassKind::Abstract => s.kind == ClassKind::Abstract,
                    ClassKind::Structural => s.kind != ClassKind::Auxiliary,
                    ClassKind::Auxiliary => s.kind != ClassKind::Structural,
                };
                if !allowed {
                    report(format!("a {:?} class cannot derive from {sup}", d.kind));
                }
            }
            if self.superclasses(d).len() > self.object_classes.len() {
                report("the SUP chain loops".into());
            }
            for attribute in d.must.iter().chain(&d.may) {
                if self.attribute_type(attribute).is_none() {
                    report(format!("attribute type {attribute} is not defined"));
                }
            }
        }
    }

    /// The attribute type named or numbered `key` (case-insensitive).
    pub fn attribute_type(&self, key: &str) -> Option<&AttributeTypeDescription> {
        lookup(&self.type_index, key).map(|i| &self.attribute_types[i])
    }

    /// The object class named or numbered `key` (case-insensitive).
    pub fn object_class(&self, key: &str) -> Option<&ObjectClassDescription> {
        lookup(&self.class_index, key).map(|i| &self.object_classes[i])
    }

    /// The matching rule named or numbered `key` (case-insensitive).
    pub fn matching_rule(&self, key: &str) -> Option<&MatchingRuleDescription> {
        lookup(&self.rule_index, key).map(|i| &self.matching_rules[i])
    }

    /// The syntax numbered `oid`.
    pub fn syntax(&self, oid: &str) -> Option<&SyntaxDescription> {
        self.syntax_index.get(oid).map(|&i| &self.syntaxes[i])
    }

    /// `d` and its supertypes, nearest first. Stops one past the number of types if the
    /// chain loops, which [`Schema::load`] reports.
    pub fn supertypes<'a>(
        &'a self,
        d: &'a AttributeTypeDescription,
    ) -> Vec<&'a AttributeTypeDescription> {
        let mut chain = vec![d];
        let mut at = d;
        while let Some(sup) = at.sup.as_deref().and_then(|s| self.attribute_type(s)) {
            chain.push(sup);
            if chain.len() > self.attribute_types.len() {
                break;
            }
            at = sup;
        }
        chain
    }

    /// The syntax of `d`, inherited from its supertypes when it names none.
    pub fn syntax_of<'a>(&'a self, d: &'a AttributeTypeDescription) -> Option<&'a str> {
        self.supertypes(d)
            .into_iter()
            .find_map(|t| t.syntax.as_deref())
    }

    /// The equality rule of `d` (a name or OID as written), inherited when it names none.
    pub fn equality_of<'a>(&'a self, d: &'a AttributeTypeDescription) -> Option<&'a str> {
        self.supertypes(d)
            .into_iter()
            .find_map(|t| t.equality.as_deref())
    }

    fn ordering_of<'a>(&'a self, d: &'a AttributeTypeDescription) -> Option<&'a str> {
        self.supertypes(d)
            .into_iter()
            .find_map(|t| t.ordering.as_deref())
    }

    fn substr_of<'a>(&'a self, d: &'a AttributeTypeDescription) -> Option<&'a str> {
        self.supertypes(d)
            .into_iter()
            .find_map(|t| t.substr.as_deref())
    }

    /// `d` and its superclasses, each once. Stops one past the number of classes if the
    /// chain loops, which [`Schema::load`] reports.
    pub fn superclasses<'a>(
        &'a self,
        d: &'a ObjectClassDescription,
    ) -> Vec<&'a ObjectClassDescription> {
        let mut found: Vec<&ObjectClassDescription> = vec![d];
        let mut next = 0;
        while next < found.len() && found.len() <= self.object_classes.len() {
            for sup in &found[next].sup {
                if let Some(s) = self.object_class(sup) {
                    if !found.iter().any(|f| f.oid == s.oid) {
                        found.push(s);
                    }
                }
            }
            next += 1;
        }
        found
    }

    /// `matchingRuleUse` (RFC 4512 §4.1.4): for each matching rule, the attribute types it
    /// can be applied to in an extensible match: those whose syntax is the rule's assertion
    /// syntax, and those naming the rule as their equality, ordering or substrings rule.
    /// Rules that apply to no attribute type are left out.
    pub fn matching_rule_uses(&self) -> Vec<MatchingRuleUseDescription> {
        self.matching_rules
            .iter()
            .filter_map(|rule| {
                let names_rule = |r: Option<&str>| {
                    r.and_then(|r| self.matching_rule(r))
                        .is_some_and(|r| r.oid == rule.oid)
                };
                let applies: Vec<String> = self
                    .attribute_types
                    .iter()
                    .filter(|t| {
                        self.syntax_of(t) == Some(rule.syntax.as_str())
                            || names_rule(self.equality_of(t))
                            || names_rule(self.ordering_of(t))
                            || names_rule(self.substr_of(t))
                    })
                    .map(|t| t.name().to_string())
                    .collect();
                (!applies.is_empty()).then(|| MatchingRuleUseDescription {
                    oid: rule.oid.clone(),
                    names: rule.names.clone(),
                    applies,
                })
            })
            .collect()
    }
}

fn index(map: &mut HashMap<String, usize>, oid: &str, names: &[String], at: usize) {
    map.insert(oid.to_string(), at);
    for name in names {
        map.insert(name.to_ascii_lowercase(), at);
    }
}

fn lookup(map: &HashMap<String, usize>, key: &str) -> Option<usize> {
    if is_descr(key) {
        map.get(&key.to_ascii_lowercase()).copied()
    } else {
        map.get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &'static str) -> Result<Schema, SchemaError> {
        Schema::load(&[Source {
            origin: "test",
            text,
        }])
    }

    const BASE: &str = "
        # a comment, with a quote ' that is no string
        ldapsyntax ( 1.1.1 DESC 'Directory String' )
        matchingrule ( 1.1.2 NAME 'caseIgnoreMatch' SYNTAX 1.1.1 )
        attributetype ( 1.1.3 NAME 'name'
            EQUALITY caseIgnoreMatch SYNTAX 1.1.1 )
        attributetype ( 1.1.4 NAME ( 'cn' 'commonName' ) SUP name )
        objectclass ( 1.1.5 NAME 'top' ABSTRACT MUST objectClass )
        attributetype ( 1.1.6 NAME 'objectClass' SYNTAX 1.1.1 )
        objectclass ( 1.1.7 NAME 'thing' SUP top STRUCTURAL MUST cn )
    ";

    #[test]
    fn a_consistent_schema_loads_with_inheritance_resolved() {
        let schema = load(BASE).unwrap();
        let cn = schema.attribute_type("COMMONNAME").unwrap();
        assert_eq!(schema.attribute_type("1.1.4").unwrap().oid, cn.oid);
        assert_eq!(schema.syntax_of(cn), Some("1.1.1"));
        assert_eq!(schema.equality_of(cn), Some("caseIgnoreMatch"));
        let name = schema.attribute_type("name").unwrap();
        let oids = |d| -> Vec<&str> {
            schema
                .supertypes(d)
                .iter()
                .map(|t| t.oid.as_str())
                .collect()
        };
        assert_eq!(oids(cn), ["1.1.4", name.oid.as_str()]);
        assert_eq!(oids(name), [name.oid.as_str()]);
        let thing = schema.object_class("thing").unwrap();
        let chain: Vec<&str> = schema
            .superclasses(thing)
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(chain, ["thing", "top"]);
        assert_eq!(cn.extensions[0].values, ["test"]);
        let uses = schema.matching_rule_uses();
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].applies, ["name", "cn", "objectClass"]);
    }

    #[test]
    fn dangling_and_duplicate_definitions_are_all_reported() {
        let bad = format!(
            "{BASE}
            attributetype ( 1.1.4 NAME 'sn' SUP nothing )
            attributetype ( 1.2.1 NAME 'CN' EQUALITY x SYNTAX 9.9.9 )
            attributetype ( 1.2.2 NAME 'stamp' SYNTAX 1.1.1 NO-USER-MODIFICATION )
            objectclass ( 1.2.3 NAME 'extra' SUP thing AUXILIARY MAY ( nothing ) )"
        );
        let err = load(Box::leak(bad.into_boxed_str())).unwrap_err();
        let all = err.to_string();
        for expected in [
            "OID 1.1.4 defined as attribute type and as attribute type",
            "SUP nothing is not defined",
            "name CN defined",
            "syntax 9.9.9 is not in ldapSyntaxes",
            "matching rule x is not defined",
            "NO-USER-MODIFICATION requires an operational usage",
            "cannot derive from thing",
            "attribute type nothing is not defined",
        ] {
            assert!(all.contains(expected), "{expected:?} not in {all}");
        }
    }
}
