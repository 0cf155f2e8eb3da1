"""CDS Hooks 2.0 services at order entry (order-select, order-sign) and their feedback store (no flask)."""
