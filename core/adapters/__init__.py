"""A trained job's adapter: its files on this machine (`files`), exported as they are or merged into
the base model (`export`), and talked to in the playground (`playground_client`)."""
