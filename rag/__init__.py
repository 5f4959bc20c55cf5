"""Core of policyqa: settings, shared types, the index, retrieval and answering."""
