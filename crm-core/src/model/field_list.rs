//! [`FieldList`]: a record's fields as a read produces them.

use super::{FieldMap, FieldValue};

/// A record's fields in name order, each name once: what a read makes of a vendor's answer on
/// its way to a typed record.
///
/// A read builds one per record and reads each field out of it once, so it is a sorted list
/// rather than a [`FieldMap`]: gathering a record's few dozen fields and sorting them once, and
/// finding each by binary search, costs a fraction of inserting each into a tree and removing
/// it again (measured in the HubSpot overhead bench). Convert with `From` either way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldList {
    /// Sorted by name, names unique.
    fields: Vec<(String, FieldValue)>,
}

impl FieldList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The list of `fields` as they come; where a name comes twice, the later value counts
    /// (as inserting each into a map would).
    pub fn from_unsorted(mut fields: Vec<(String, FieldValue)>) -> Self {
        // Stable, so equal names keep their order and the last can win below.
        fields.sort_by(|(a, _), (b, _)| a.cmp(b));
        // In place: of a run of one name, the first entry is kept with the last one's value.
        fields.dedup_by(|(later_name, later), (name, kept)| {
            let same = later_name == name;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        Self { fields }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.fields.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        let at = self.find(name).ok()?;
        self.fields.get(at).map(|(_, v)| v)
    }

    /// Whether `name` is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name` to `value`; returns the value it replaces.
    pub fn insert(&mut self, name: String, value: FieldValue) -> Option<FieldValue> {
        match self.find(&name) {
            Ok(at) => self
                .fields
                .get_mut(at)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(at) => {
                self.fields.insert(at, (name, value));
                None
            }
        }
    }

    /// Sets `name` to `value()` unless it is present.
    pub fn insert_missing(&mut self, name: &str, value: impl FnOnce() -> FieldValue) {
        if let Err(at) = self.find(name) {
            self.fields.insert(at, (name.to_owned(), value()));
        }
    }

    /// Removes `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<FieldValue> {
        let at = self.find(name).ok()?;
        Some(self.fields.remove(at).1)
    }

    /// The value of `name`, left [`FieldValue::Null`] in the list: a read that takes each field
    /// once, without shifting the rest.
    pub(crate) fn take(&mut self, name: &str) -> Option<FieldValue> {
        let at = self.find(name).ok()?;
        self.fields
            .get_mut(at)
            .map(|(_, v)| std::mem::replace(v, FieldValue::Null))
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// `other`'s fields laid over these (a name in both takes `other`'s value).
    pub fn extend(&mut self, other: FieldList) {
        if self.fields.is_empty() {
            *self = other;
            return;
        }
        for (name, value) in other.fields {
            self.insert(name, value);
        }
    }
}

impl From<FieldMap> for FieldList {
    fn from(map: FieldMap) -> Self {
        // A map yields its entries in name order, each name once.
        Self {
            fields: map.into_iter().collect(),
        }
    }
}

impl From<FieldList> for FieldMap {
    fn from(list: FieldList) -> Self {
        // In name order, so the tree is built in one pass.
        list.fields.into_iter().collect()
    }
}

impl FromIterator<(String, FieldValue)> for FieldList {
    fn from_iter<I: IntoIterator<Item = (String, FieldValue)>>(iter: I) -> Self {
        Self::from_unsorted(iter.into_iter().collect())
    }
}

impl IntoIterator for FieldList {
    type Item = (String, FieldValue);
    type IntoIter = std::vec::IntoIter<(String, FieldValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.fields.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> FieldValue {
        FieldValue::Text(s.into())
    }

    #[test]
    fn a_list_reads_like_the_map_it_stands_for() {
        let list = FieldList::from_unsorted(vec![
            ("phone".into(), text("1")),
            ("email".into(), text("a")),
            ("title".into(), FieldValue::Null),
            ("email".into(), text("b")),
            ("email".into(), text("c")),
        ]);
        let mut map = FieldMap::new();
        for (k, v) in [
            ("phone", text("1")),
            ("email", text("a")),
            ("title", FieldValue::Null),
            ("email", text("b")),
            ("email", text("c")),
        ] {
            map.insert(k.into(), v);
        }
        assert_eq!(FieldMap::from(list.clone()), map);
        assert_eq!(FieldList::from(map), list);
        assert_eq!(list.get("email"), Some(&text("c")));
        assert_eq!(list.get("mobile"), None);
        assert_eq!(
            list.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            ["email", "phone", "title"]
        );
    }

    #[test]
    fn insert_remove_take_and_extend_keep_the_list_sorted_and_unique() {
        let mut list = FieldList::new();
        assert_eq!(list.insert("b".into(), text("1")), None);
        assert_eq!(list.insert("a".into(), text("2")), None);
        assert_eq!(list.insert("b".into(), text("3")), Some(text("1")));
        list.insert_missing("b", || text("9"));
        assert_eq!(list.get("b"), Some(&text("3")));
        assert_eq!(list.len(), 2);
        let mut other = FieldList::new();
        other.insert("c".into(), text("4"));
        other.insert("a".into(), text("5"));
        list.extend(other);
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            [("a", &text("5")), ("b", &text("3")), ("c", &text("4"))]
        );
        assert_eq!(list.take("b"), Some(text("3")));
        assert_eq!(list.get("b"), Some(&FieldValue::Null));
        assert_eq!(list.remove("a"), Some(text("5")));
        assert!(!list.contains_key("a"));
        assert_eq!(list.len(), 2);
    }
}
