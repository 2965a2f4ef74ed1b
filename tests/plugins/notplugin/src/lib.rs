//! Fixture: a valid component that is not a plugin (it exports an unrelated world).

wit_bindgen::generate!({ path: "wit", world: "other" });

struct NotPlugin;

impl Guest for NotPlugin {
    fn hello() -> String {
        "hello".into()
    }
}

export!(NotPlugin);
