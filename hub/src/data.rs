//! An event's `data:` as it goes on the wire, decided once when it is published: a payload
//! that serializes to a string (`String`, `&str`, `Cow<str>`, a newtype of one) is sent as
//! that text, so `Hub<String>` sends `data: tick 3`; anything else is sent as its JSON.

use serde::Serialize;

/// What an event's `data:` lines carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Data {
    /// A string payload, as it is.
    Text(String),
    /// Any other payload, as JSON.
    Json(String),
}

impl Data {
    /// How `event` is sent.
    pub(crate) fn encode<T: Serialize>(event: &T) -> Self {
        let json = serde_json::to_string(event).expect("payloads encode to JSON");
        if json.starts_with('"') {
            // A JSON string: what it says, unquoted and unescaped.
            let text: String =
                serde_json::from_str(&json).expect("serde_json reads its own string");
            return Self::Text(text);
        }
        Self::Json(json)
    }

    /// The payload it was encoded from.
    #[cfg(feature = "redis")]
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        match self {
            Self::Json(json) => serde_json::from_str(json),
            // Quoted again, so that a newtype of a string reads it as it was written.
            Self::Text(text) => serde_json::from_str(&serde_json::to_string(text)?),
        }
    }

    /// The text of its `data:` lines.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Text(text) | Self::Json(text) => text,
        }
    }

    /// The field of a shared log's entry that holds it: `text` or `data` (JSON).
    #[cfg(feature = "redis")]
    pub(crate) fn field(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Json(_) => "data",
        }
    }

    /// The data a shared log's entry field holds, if it is one of [`Data::field`]'s.
    #[cfg(feature = "redis")]
    pub(crate) fn from_field(name: &str, value: &str) -> Option<Self> {
        match name {
            "text" => Some(Self::Text(value.to_owned())),
            "data" => Some(Self::Json(value.to_owned())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Name(String);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        name: String,
    }

    #[test]
    fn strings_go_as_text_and_everything_else_as_json() {
        assert_eq!(Data::encode(&"tick \"3\"\n"), Data::Text("tick \"3\"\n".into()));
        assert_eq!(Data::encode(&Name("李".into())), Data::Text("李".into()));
        assert_eq!(Data::encode(&Row { name: "a".into() }), Data::Json(r#"{"name":"a"}"#.into()));
        assert_eq!(Data::encode(&3), Data::Json("3".into()));
        assert_eq!(Data::encode(&Some("x")), Data::Text("x".into()));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn what_is_encoded_decodes_to_the_same_payload() {
        let name = Name("say \"hi\"".into());
        assert_eq!(Data::encode(&name).decode::<Name>().unwrap(), name);
        let row = Row { name: "b".into() };
        assert_eq!(Data::encode(&row).decode::<Row>().unwrap(), row);
        let text = "{\"looks\":\"like json\"}".to_owned();
        assert_eq!(Data::encode(&text).decode::<String>().unwrap(), text);
        for data in [Data::encode(&text), Data::encode(&row)] {
            assert_eq!(Data::from_field(data.field(), data.as_str()), Some(data));
        }
    }
}
