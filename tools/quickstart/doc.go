// Package quickstart tests docs/quickstart.md: its test extracts the page's
// shell blocks and runs them literally, in order, in one bash, in a copy of
// the source tree with HOME (and, for root, the Pluton home) in a temporary
// directory, then checks the output against the page's text blocks.
package quickstart
