//! The HTTP listener as mail clients use it: a real server on `127.0.0.1:0`, spoken to with
//! reqwest, its XML read back with a real parser.

mod autoconfig;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// An XML element as a client sees it: local name, attributes, text and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    /// The element's own character data, entities resolved.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parses a whole document; panics unless it is well-formed with one root.
    pub fn parse(document: &str) -> Element {
        let mut reader = Reader::from_str(document);
        let mut open: Vec<Element> = Vec::new();
        let mut root = None;
        loop {
            let event = reader.read_event().unwrap();
            match event {
                Event::Start(start) => open.push(Element::start(&start)),
                Event::Empty(start) => {
                    let element = Element::start(&start);
                    close(&mut open, &mut root, element);
                }
                Event::End(_) => {
                    let element = open.pop().unwrap();
                    close(&mut open, &mut root, element);
                }
                Event::Text(text) => {
                    if let Some(current) = open.last_mut() {
                        current.text.push_str(&text.xml10_content());
                    }
                }
                Event::GeneralRef(reference) => {
                    let text = match reference.resolve_char_ref().unwrap() {
                        Some(c) => c.to_string(),
                        None => resolve_predefined_entity(&reference).unwrap().to_owned(),
                    };
                    open.last_mut().unwrap().text.push_str(&text);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(open.is_empty(), "unclosed elements in {document}");
        root.expect("a root element")
    }

    fn start(start: &BytesStart<'_>) -> Element {
        Element {
            name: start.local_name().as_ref().to_owned(),
            attributes: start
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    (
                        a.key.as_ref().to_owned(),
                        a.normalized_value(XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned(),
                    )
                })
                .collect(),
            text: String::new(),
            children: Vec::new(),
        }
    }

    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every child called `name`, in document order.
    pub fn all(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    /// The only child called `name`; panics if there is none or several.
    pub fn one(&self, name: &str) -> &Element {
        let found = self.all(name);
        assert_eq!(found.len(), 1, "<{name}> under <{}>: {self:?}", self.name);
        found[0]
    }

    /// The trimmed text of the only child called `name`.
    pub fn text_of(&self, name: &str) -> &str {
        self.one(name).text.trim()
    }

    /// The names of the children, in order.
    pub fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

fn close(open: &mut [Element], root: &mut Option<Element>, element: Element) {
    match open.last_mut() {
        Some(parent) => parent.children.push(element),
        None => {
            assert!(root.is_none(), "a second root element");
            *root = Some(element);
        }
    }
}
