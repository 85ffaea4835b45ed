"""One module per analysis notebook (a0..a6): each turns the long results frame into that section's
tables, figure and macros. a6 (the claims ledger) reuses a0, a2 and a5 explicitly."""
