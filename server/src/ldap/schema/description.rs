//! RFC 4512 §4.1 definition descriptions: the text form in which a subschema entry publishes
//! attribute types, object classes, syntaxes and matching rules. Parsing follows the RFC's
//! ABNF strictly (field order, numeric OIDs without leading zeros, `\27`/`\5C` escapes), so a
//! definition that parses here is one every client's parser accepts; rendering writes the
//! single-space form servers publish, and parses back to the same value.

use std::fmt;

/// How an attribute type is used (`USAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    UserApplications,
    DirectoryOperation,
    DistributedOperation,
    DsaOperation,
}

impl Usage {
    fn keyword(self) -> &'static str {
        match self {
            Usage::UserApplications => "userApplications",
            Usage::DirectoryOperation => "directoryOperation",
            Usage::DistributedOperation => "distributedOperation",
            Usage::DsaOperation => "dSAOperation",
        }
    }

    /// Whether attributes of this usage are operational (RFC 4512 §3.4).
    pub fn is_operational(self) -> bool {
        self != Usage::UserApplications
    }
}

/// An object class's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    Abstract,
    Structural,
    Auxiliary,
}

impl ClassKind {
    fn keyword(self) -> &'static str {
        match self {
            ClassKind::Abstract => "ABSTRACT",
            ClassKind::Structural => "STRUCTURAL",
            ClassKind::Auxiliary => "AUXILIARY",
        }
    }
}

/// An `X-…` extension and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub values: Vec<String>,
}

/// An `AttributeTypeDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeTypeDescription {
    pub oid: String,
    pub names: Vec<String>,
    pub desc: Option<String>,
    pub obsolete: bool,
    pub sup: Option<String>,
    pub equality: Option<String>,
    pub ordering: Option<String>,
    pub substr: Option<String>,
    /// The syntax OID, without its length bound.
    pub syntax: Option<String>,
    /// The suggested maximum length (`{n}` after the syntax OID).
    pub length: Option<u32>,
    pub single_value: bool,
    pub collective: bool,
    pub no_user_modification: bool,
    pub usage: Usage,
    pub extensions: Vec<Extension>,
}

/// An `ObjectClassDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectClassDescription {
    pub oid: String,
    pub names: Vec<String>,
    pub desc: Option<String>,
    pub obsolete: bool,
    pub sup: Vec<String>,
    pub kind: ClassKind,
    pub must: Vec<String>,
    pub may: Vec<String>,
    pub extensions: Vec<Extension>,
}

/// A `SyntaxDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxDescription {
    pub oid: String,
    pub desc: Option<String>,
    pub extensions: Vec<Extension>,
}

/// A `MatchingRuleDescription`; `syntax` is the syntax of its assertion values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchingRuleDescription {
    pub oid: String,
    pub names: Vec<String>,
    pub desc: Option<String>,
    pub obsolete: bool,
    pub syntax: String,
    pub extensions: Vec<Extension>,
}

/// A `MatchingRuleUseDescription`: the attribute types a matching rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchingRuleUseDescription {
    pub oid: String,
    pub names: Vec<String>,
    pub applies: Vec<String>,
}

/// Why a description is not well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptionError {
    pub text: String,
    pub reason: String,
}

impl fmt::Display for DescriptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.text)
    }
}

impl std::error::Error for DescriptionError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Dollar,
    Quoted(String),
    Word(String),
}

/// Splits a description into tokens, decoding quoted strings.
fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '(' | ')' | '$' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Dollar,
                });
            }
            '\'' => {
                chars.next();
                let end = text[start + 1..]
                    .find('\'')
                    .ok_or("a quoted string is not closed")?;
                let raw = &text[start + 1..start + 1 + end];
                tokens.push(Token::Quoted(unescape(raw)?));
                while chars.peek().is_some_and(|&(i, _)| i <= start + 1 + end) {
                    chars.next();
                }
            }
            _ => {
                let mut end = text.len();
                while let Some(&(i, c)) = chars.peek() {
                    if matches!(c, ' ' | '(' | ')' | '$' | '\'') {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(text[start..end].to_string()));
            }
        }
    }
    Ok(tokens)
}

/// A `dstring`: one or more characters, a quote written `\27` and a backslash `\5C`.
fn unescape(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("an empty quoted string".into());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at + 1..at + 3).unwrap_or_default();
        match escape.to_ascii_uppercase().as_str() {
            "27" => out.push('\''),
            "5C" => out.push('\\'),
            _ => {
                return Err(format!(
                    "a backslash must start \\27 or \\5C, not \\{escape}"
                ))
            }
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\5C").replace('\'', "\\27")
}

/// `numericoid`: two or more numbers, none with a leading zero.
pub fn is_numericoid(s: &str) -> bool {
    let mut parts = 0;
    for part in s.split('.') {
        let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits || (part.len() > 1 && part.starts_with('0')) {
            return false;
        }
        parts += 1;
    }
    parts >= 2
}

/// `descr`: a letter, then letters, digits and hyphens.
pub fn is_descr(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A cursor over one description's tokens, with the checks every kind shares.
struct Parser {
    tokens: std::vec::IntoIter<Token>,
    peeked: Option<Token>,
}

impl Parser {
    fn new(text: &str) -> Result<Parser, String> {
        let tokens = tokenize(text)?;
        Ok(Parser {
            tokens: tokens.into_iter(),
            peeked: None,
        })
    }

    fn next(&mut self) -> Option<Token> {
        self.peeked.take().or_else(|| self.tokens.next())
    }

    fn peek(&mut self) -> Option<&Token> {
        if self.peeked.is_none() {
            self.peeked = self.tokens.next();
        }
        self.peeked.as_ref()
    }

    /// `( numericoid`: the start every description shares.
    fn start(&mut self) -> Result<String, String> {
        if self.next() != Some(Token::Open) {
            return Err("a description starts with '('".into());
        }
        match self.next() {
            Some(Token::Word(oid)) if is_numericoid(&oid) => Ok(oid),
            other => Err(format!("expected a numeric OID, found {other:?}")),
        }
    }

    /// The next keyword, or `None` at the closing parenthesis (which must end the text).
    fn keyword(&mut self) -> Result<Option<String>, String> {
        match self.next() {
            Some(Token::Close) => match self.next() {
                None => Ok(None),
                Some(extra) => Err(format!("{extra:?} after the closing ')'")),
            },
            Some(Token::Word(word)) => Ok(Some(word)),
            other => Err(format!("expected a keyword, found {other:?}")),
        }
    }

    fn qdstring(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Quoted(s)) => Ok(s),
            other => Err(format!("expected a quoted string, found {other:?}")),
        }
    }

    /// `qdescrs` (check `descr`) or `qdstrings` (any text).
    fn quoted_list(&mut self, descrs: bool) -> Result<Vec<String>, String> {
        let list = match self.next() {
            Some(Token::Quoted(s)) => vec![s],
            Some(Token::Open) => {
                let mut list = Vec::new();
                loop {
                    match self.next() {
                        Some(Token::Quoted(s)) => list.push(s),
                        Some(Token::Close) if !list.is_empty() => break,
                        other => return Err(format!("expected a quoted string, found {other:?}")),
                    }
                }
                list
            }
            other => return Err(format!("expected a quoted string, found {other:?}")),
        };
        if let Some(bad) = list.iter().find(|s| descrs && !is_descr(s)) {
            return Err(format!("{bad:?} is not a name (descr)"));
        }
        Ok(list)
    }

    /// `oid`: a name or a numeric OID.
    fn oid(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) if is_descr(&w) || is_numericoid(&w) => Ok(w),
            other => Err(format!("expected a name or OID, found {other:?}")),
        }
    }

    /// `oids`: one OID, or a `$`-separated list in parentheses.
    fn oids(&mut self) -> Result<Vec<String>, String> {
        if self.peek() != Some(&Token::Open) {
            return Ok(vec![self.oid()?]);
        }
        self.next();
        let mut list = vec![self.oid()?];
        loop {
            match self.next() {
                Some(Token::Dollar) => list.push(self.oid()?),
                Some(Token::Close) => return Ok(list),
                other => return Err(format!("expected '$' or ')', found {other:?}")),
            }
        }
    }

    /// `noidlen`: a numeric OID with an optional `{length}`.
    fn noidlen(&mut self) -> Result<(String, Option<u32>), String> {
        let word = match self.next() {
            Some(Token::Word(w)) => w,
            other => return Err(format!("expected a syntax OID, found {other:?}")),
        };
        let (oid, length) = match word.split_once('{') {
            Some((oid, rest)) => {
                let digits = rest
                    .strip_suffix('}')
                    .ok_or("a syntax length must end with '}'")?;
                let length = digits
                    .parse::<u32>()
                    .ok()
                    .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("{digits:?} is not a length"))?;
                (oid, Some(length))
            }
            None => (word.as_str(), None),
        };
        if !is_numericoid(oid) {
            return Err(format!("{oid:?} is not a numeric OID"));
        }
        Ok((oid.to_string(), length))
    }

    fn extension(&mut self, name: String) -> Result<Extension, String> {
        let valid = name.strip_prefix("X-").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
        });
        if !valid {
            return Err(format!("unknown keyword {name}"));
        }
        Ok(Extension {
            values: self.quoted_list(false)?,
            name,
        })
    }
}

/// Accepts each keyword of a description kind once and in the RFC's order, then only
/// extensions.
struct Order {
    fields: &'static [&'static str],
    next: usize,
}

impl Order {
    /// Whether `keyword` is one of the kind's fields; an error when it comes out of order.
    fn accept(&mut self, keyword: &str) -> Result<bool, String> {
        match self.fields.iter().position(|f| *f == keyword) {
            Some(at) if at >= self.next => {
                self.next = at + 1;
                Ok(true)
            }
            Some(_) => Err(format!("{keyword} is repeated or out of order")),
            None if keyword.starts_with("X-") => {
                self.next = self.fields.len();
                Ok(false)
            }
            None => Err(format!("unknown keyword {keyword}")),
        }
    }
}

fn failed(text: &str) -> impl Fn(String) -> DescriptionError + '_ {
    move |reason| DescriptionError {
        text: text.to_string(),
        reason,
    }
}

const ATTRIBUTE_TYPE_FIELDS: &[&str] = &[
    "NAME",
    "DESC",
    "OBSOLETE",
    "SUP",
    "EQUALITY",
    "ORDERING",
    "SUBSTR",
    "SYNTAX",
    "SINGLE-VALUE",
    "COLLECTIVE",
    "NO-USER-MODIFICATION",
    "USAGE",
];

impl AttributeTypeDescription {
    /// Parses an `AttributeTypeDescription`.
    pub fn parse(text: &str) -> Result<Self, DescriptionError> {
        Self::parse_inner(text).map_err(failed(text))
    }

    fn parse_inner(text: &str) -> Result<Self, String> {
        let mut p = Parser::new(text)?;
        let mut d = AttributeTypeDescription {
            oid: p.start()?,
            names: Vec::new(),
            desc: None,
            obsolete: false,
            sup: None,
            equality: None,
            ordering: None,
            substr: None,
            syntax: None,
            length: None,
            single_value: false,
            collective: false,
            no_user_modification: false,
            usage: Usage::UserApplications,
            extensions: Vec::new(),
        };
        let mut order = Order {
            fields: ATTRIBUTE_TYPE_FIELDS,
            next: 0,
        };
        while let Some(keyword) = p.keyword()? {
            if !order.accept(&keyword)? {
                d.extensions.push(p.extension(keyword)?);
                continue;
            }
            match keyword.as_str() {
                "NAME" => d.names = p.quoted_list(true)?,
                "DESC" => d.desc = Some(p.qdstring()?),
                "OBSOLETE" => d.obsolete = true,
                "SUP" => d.sup = Some(p.oid()?),
                "EQUALITY" => d.equality = Some(p.oid()?),
                "ORDERING" => d.ordering = Some(p.oid()?),
                "SUBSTR" => d.substr = Some(p.oid()?),
                "SYNTAX" => (d.syntax, d.length) = p.noidlen().map(|(o, l)| (Some(o), l))?,
                "SINGLE-VALUE" => d.single_value = true,
                "COLLECTIVE" => d.collective = true,
                "NO-USER-MODIFICATION" => d.no_user_modification = true,
                _ => d.usage = parse_usage(p.next())?,
            }
        }
        if d.sup.is_none() && d.syntax.is_none() {
            return Err("an attribute type needs SUP or SYNTAX".into());
        }
        Ok(d)
    }

    /// The first name, or the OID when there is none.
    pub fn name(&self) -> &str {
        self.names.first().unwrap_or(&self.oid)
    }
}

fn parse_usage(token: Option<Token>) -> Result<Usage, String> {
    let Some(Token::Word(word)) = token else {
        return Err("USAGE needs a value".into());
    };
    [
        Usage::UserApplications,
        Usage::DirectoryOperation,
        Usage::DistributedOperation,
        Usage::DsaOperation,
    ]
    .into_iter()
    .find(|u| u.keyword() == word)
    .ok_or_else(|| format!("unknown usage {word}"))
}

const OBJECT_CLASS_FIELDS: &[&str] = &["NAME", "DESC", "OBSOLETE", "SUP", "KIND", "MUST", "MAY"];

impl ObjectClassDescription {
    /// Parses an `ObjectClassDescription`.
    pub fn parse(text: &str) -> Result<Self, DescriptionError> {
        Self::parse_inner(text).map_err(failed(text))
    }

    fn parse_inner(text: &str) -> Result<Self, String> {
        let mut p = Parser::new(text)?;
        let mut d = ObjectClassDescription {
            oid: p.start()?,
            names: Vec::new(),
            desc: None,
            obsolete: false,
            sup: Vec::new(),
            // RFC 4512 §4.1.1: a class given no kind is structural.
            kind: ClassKind::Structural,
            must: Vec::new(),
            may: Vec::new(),
            extensions: Vec::new(),
        };
        let mut order = Order {
            fields: OBJECT_CLASS_FIELDS,
            next: 0,
        };
        while let Some(keyword) = p.keyword()? {
            let kind = [
                ClassKind::Abstract,
                ClassKind::Structural,
                ClassKind::Auxiliary,
            ]
            .into_iter()
            .find(|k| k.keyword() == keyword);
            // The three kind keywords share one place in the order.
            let field = match kind {
                Some(_) => "KIND",
                None if keyword == "KIND" => return Err("unknown keyword KIND".into()),
                None => &keyword,
            };
            if !order.accept(field)? {
                d.extensions.push(p.extension(keyword)?);
                continue;
            }
            match (kind, field) {
                (Some(kind), _) => d.kind = kind,
                (None, "NAME") => d.names = p.quoted_list(true)?,
                (None, "DESC") => d.desc = Some(p.qdstring()?),
                (None, "OBSOLETE") => d.obsolete = true,
                (None, "SUP") => d.sup = p.oids()?,
                (None, "MUST") => d.must = p.oids()?,
                _ => d.may = p.oids()?,
            }
        }
        Ok(d)
    }

    /// The first name, or the OID when there is none.
    pub fn name(&self) -> &str {
        self.names.first().unwrap_or(&self.oid)
    }
}

impl SyntaxDescription {
    /// Parses a `SyntaxDescription`.
    pub fn parse(text: &str) -> Result<Self, DescriptionError> {
        Self::parse_inner(text).map_err(failed(text))
    }

    fn parse_inner(text: &str) -> Result<Self, String> {
        let mut p = Parser::new(text)?;
        let mut d = SyntaxDescription {
            oid: p.start()?,
            desc: None,
            extensions: Vec::new(),
        };
        let mut order = Order {
            fields: &["DESC"],
            next: 0,
        };
        while let Some(keyword) = p.keyword()? {
            if order.accept(&keyword)? {
                d.desc = Some(p.qdstring()?);
            } else {
                d.extensions.push(p.extension(keyword)?);
            }
        }
        Ok(d)
    }
}

impl MatchingRuleDescription {
    /// Parses a `MatchingRuleDescription`.
    pub fn parse(text: &str) -> Result<Self, DescriptionError> {
        Self::parse_inner(text).map_err(failed(text))
    }

    fn parse_inner(text: &str) -> Result<Self, String> {
        let mut p = Parser::new(text)?;
        let oid = p.start()?;
        let (mut names, mut desc, mut obsolete, mut syntax) = (Vec::new(), None, false, None);
        let mut extensions = Vec::new();
        let mut order = Order {
            fields: &["NAME", "DESC", "OBSOLETE", "SYNTAX"],
            next: 0,
        };
        while let Some(keyword) = p.keyword()? {
            if !order.accept(&keyword)? {
                extensions.push(p.extension(keyword)?);
                continue;
            }
            match keyword.as_str() {
                "NAME" => names = p.quoted_list(true)?,
                "DESC" => desc = Some(p.qdstring()?),
                "OBSOLETE" => obsolete = true,
                _ => match p.next() {
                    Some(Token::Word(w)) if is_numericoid(&w) => syntax = Some(w),
                    other => return Err(format!("expected a syntax OID, found {other:?}")),
                },
            }
        }
        Ok(MatchingRuleDescription {
            oid,
            names,
            desc,
            obsolete,
            syntax: syntax.ok_or("a matching rule needs SYNTAX")?,
            extensions,
        })
    }

    /// The first name, or the OID when there is none.
    pub fn name(&self) -> &str {
        self.names.first().unwrap_or(&self.oid)
    }
}

// Only the tests read matchingRuleUse back; the server writes it.
#[cfg(test)]
impl MatchingRuleUseDescription {
    /// Parses a `MatchingRuleUseDescription`.
    pub fn parse(text: &str) -> Result<Self, DescriptionError> {
        Self::parse_inner(text).map_err(failed(text))
    }

    fn parse_inner(text: &str) -> Result<Self, String> {
        let mut p = Parser::new(text)?;
        let oid = p.start()?;
        let (mut names, mut applies) = (Vec::new(), Vec::new());
        let mut order = Order {
            fields: &["NAME", "DESC", "OBSOLETE", "APPLIES"],
            next: 0,
        };
        while let Some(keyword) = p.keyword()? {
            if !order.accept(&keyword)? {
                p.extension(keyword)?;
                continue;
            }
            match keyword.as_str() {
                "NAME" => names = p.quoted_list(true)?,
                "DESC" => {
                    p.qdstring()?;
                }
                "OBSOLETE" => {}
                _ => applies = p.oids()?,
            }
        }
        if applies.is_empty() {
            return Err("a matching rule use needs APPLIES".into());
        }
        Ok(MatchingRuleUseDescription {
            oid,
            names,
            applies,
        })
    }
}

/// Writes ` KEYWORD value` parts in the published form.
struct Writer<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
}

impl Writer<'_, '_> {
    fn flag(&mut self, keyword: &str, on: bool) -> fmt::Result {
        if on {
            write!(self.f, " {keyword}")?;
        }
        Ok(())
    }

    fn word(&mut self, keyword: &str, value: Option<&str>) -> fmt::Result {
        match value {
            Some(v) => write!(self.f, " {keyword} {v}"),
            None => Ok(()),
        }
    }

    fn quoted(&mut self, keyword: &str, values: &[String]) -> fmt::Result {
        match values {
            [] => Ok(()),
            [one] => write!(self.f, " {keyword} '{}'", escape(one)),
            many => {
                write!(self.f, " {keyword} (")?;
                for v in many {
                    write!(self.f, " '{}'", escape(v))?;
                }
                write!(self.f, " )")
            }
        }
    }

    fn oids(&mut self, keyword: &str, values: &[String]) -> fmt::Result {
        match values {
            [] => Ok(()),
            [one] => write!(self.f, " {keyword} {one}"),
            many => write!(self.f, " {keyword} ( {} )", many.join(" $ ")),
        }
    }

    fn desc(&mut self, desc: &Option<String>) -> fmt::Result {
        self.quoted("DESC", desc.as_slice())
    }

    fn extensions(&mut self, extensions: &[Extension]) -> fmt::Result {
        for e in extensions {
            self.quoted(&e.name, &e.values)?;
        }
        write!(self.f, " )")
    }
}

impl fmt::Display for AttributeTypeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "( {}", self.oid)?;
        let mut w = Writer { f };
        w.quoted("NAME", &self.names)?;
        w.desc(&self.desc)?;
        w.flag("OBSOLETE", self.obsolete)?;
        w.word("SUP", self.sup.as_deref())?;
        w.word("EQUALITY", self.equality.as_deref())?;
        w.word("ORDERING", self.ordering.as_deref())?;
        w.word("SUBSTR", self.substr.as_deref())?;
        if let Some(syntax) = &self.syntax {
            write!(w.f, " SYNTAX {syntax}")?;
            if let Some(length) = self.length {
                write!(w.f, "{{{length}}}")?;
            }
        }
        w.flag("SINGLE-VALUE", self.single_value)?;
        w.flag("COLLECTIVE", self.collective)?;
        w.flag("NO-USER-MODIFICATION", self.no_user_modification)?;
        if self.usage != Usage::UserApplications {
            w.word("USAGE", Some(self.usage.keyword()))?;
        }
        w.extensions(&self.extensions)
    }
}

impl fmt::Display for ObjectClassDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "( {}", self.oid)?;
        let mut w = Writer { f };
        w.quoted("NAME", &self.names)?;
        w.desc(&self.desc)?;
        w.flag("OBSOLETE", self.obsolete)?;
        w.oids("SUP", &self.sup)?;
        w.flag(self.kind.keyword(), true)?;
        w.oids("MUST", &self.must)?;
        w.oids("MAY", &self.may)?;
        w.extensions(&self.extensions)
    }
}

impl fmt::Display for SyntaxDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "( {}", self.oid)?;
        let mut w = Writer { f };
        w.desc(&self.desc)?;
        w.extensions(&self.extensions)
    }
}

impl fmt::Display for MatchingRuleDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "( {}", self.oid)?;
        let mut w = Writer { f };
        w.quoted("NAME", &self.names)?;
        w.desc(&self.desc)?;
        w.flag("OBSOLETE", self.obsolete)?;
        w.word("SYNTAX", Some(&self.syntax))?;
        w.extensions(&self.extensions)
    }
}

impl fmt::Display for MatchingRuleUseDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "( {}", self.oid)?;
        let mut w = Writer { f };
        w.quoted("NAME", &self.names)?;
        w.oids("APPLIES", &self.applies)?;
        w.extensions(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attribute_type_parses_and_renders_back() {
        let text = "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )";
        let cn = AttributeTypeDescription::parse(text).unwrap();
        assert_eq!(cn.names, ["cn", "commonName"]);
        assert_eq!(cn.sup.as_deref(), Some("name"));
        assert_eq!(cn.usage, Usage::UserApplications);
        assert_eq!(cn.to_string(), text);

        let mail = AttributeTypeDescription::parse(
            "(  0.9.2342.19200300.100.1.3 NAME 'mail' EQUALITY caseIgnoreIA5Match \
             SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} X-ORIGIN 'RFC 4524' )",
        )
        .unwrap();
        assert_eq!(
            mail.syntax.as_deref(),
            Some("1.3.6.1.4.1.1466.115.121.1.26")
        );
        assert_eq!(mail.length, Some(256));
        assert_eq!(mail.extensions[0].values, ["RFC 4524"]);
        assert_eq!(
            AttributeTypeDescription::parse(&mail.to_string()).unwrap(),
            mail
        );
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        let d = SyntaxDescription::parse(r"( 1.2.3 DESC 'an official\27s \5c path' )").unwrap();
        assert_eq!(d.desc.as_deref(), Some(r"an official's \ path"));
        assert_eq!(d.to_string(), r"( 1.2.3 DESC 'an official\27s \5C path' )");
        assert!(SyntaxDescription::parse(r"( 1.2.3 DESC 'a \n b' )").is_err());
        assert!(SyntaxDescription::parse("( 1.2.3 DESC '' )").is_err());
    }

    #[test]
    fn object_classes_take_lists_and_a_kind() {
        let text = "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) \
                    MAY ( userPassword $ telephoneNumber $ seeAlso $ description ) )";
        let person = ObjectClassDescription::parse(text).unwrap();
        assert_eq!(person.kind, ClassKind::Structural);
        assert_eq!(person.must, ["sn", "cn"]);
        assert_eq!(person.may.len(), 4);
        assert_eq!(person.to_string(), text);
        let implied = ObjectClassDescription::parse("( 1.2.3 NAME 'x' MAY cn )").unwrap();
        assert_eq!(implied.kind, ClassKind::Structural);
    }

    #[test]
    fn malformed_descriptions_are_refused() {
        for bad in [
            // A leading zero, a one-part OID, a name for an OID.
            "( 2.05.4.3 NAME 'cn' SUP name )",
            "( 2 NAME 'cn' SUP name )",
            "( cn NAME 'cn' SUP name )",
            // Neither SUP nor SYNTAX.
            "( 2.5.4.3 NAME 'cn' )",
            // Fields out of order, repeated, unknown; a name that is no descr.
            "( 2.5.4.3 SUP name NAME 'cn' )",
            "( 2.5.4.3 NAME 'cn' NAME 'x' SUP name )",
            "( 2.5.4.3 NAME 'cn' SUPERIOR name )",
            "( 2.5.4.3 NAME '1cn' SUP name )",
            // Unbalanced, trailing text, an unknown usage, a bad length.
            "( 2.5.4.3 NAME 'cn' SUP name",
            "( 2.5.4.3 NAME 'cn' SUP name ) x",
            "( 2.5.4.3 NAME 'cn' SUP name USAGE everyone )",
            "( 2.5.4.3 NAME 'cn' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{x} )",
            // An extension after which a standard field comes.
            "( 2.5.4.3 NAME 'cn' X-ORIGIN 'x' SUP name )",
        ] {
            assert!(
                AttributeTypeDescription::parse(bad).is_err(),
                "accepted {bad}"
            );
        }
        assert!(ObjectClassDescription::parse("( 1.2.3 MUST ( cn $ ) )").is_err());
        assert!(MatchingRuleDescription::parse("( 2.5.13.2 NAME 'caseIgnoreMatch' )").is_err());
    }
}
