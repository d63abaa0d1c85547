//! Bouquet's integration tests: one binary (see ARCHITECTURE.md, "Testing").
