package config

import "fmt"

// MaxArgs is the most arguments an exec line may have.
const MaxArgs = 100

// TokenizeExec splits an exec line into arguments the way the original's
// lineToArgv did, a small subset of the shell's rules:
//
//   - white space separates arguments;
//   - '…' and "…" quote, and nothing escapes inside quotes; quoted and
//     unquoted text next to each other make one argument (a"b c"d is "ab cd"),
//     and "" is an empty argument;
//   - outside quotes a backslash makes the next character literal;
//   - there are at most MaxArgs arguments.
//
// An unterminated quote or a trailing backslash is an error naming the
// 1-based column where the line ended. Nothing else is special: no variables,
// globs or redirections.
func TokenizeExec(line string) ([]string, error) {
	var (
		args   []string
		cur    []byte
		inTok  bool // inside an argument
		quote  byte // the open quote, or 0
		escape bool // the previous character was an unquoted backslash
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case escape:
			cur = append(cur, c)
			escape = false
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur = append(cur, c)
			}
		case isSpace(c):
			if inTok {
				args = append(args, string(cur))
				cur, inTok = cur[:0], false
			}
		default:
			if !inTok {
				if len(args) == MaxArgs {
					return nil, fmt.Errorf("more than %d arguments at column %d", MaxArgs, i+1)
				}
				inTok = true
			}
			switch c {
			case '\'', '"':
				quote = c
			case '\\':
				escape = true
			default:
				cur = append(cur, c)
			}
		}
	}
	switch {
	case quote != 0:
		//lint:ignore ST1005 the original's wording, which logs and tests grep
		return nil, fmt.Errorf("Unterminated quote at column %d", len(line))
	case escape:
		//lint:ignore ST1005 the original's wording, which logs and tests grep
		return nil, fmt.Errorf("Unterminated escape character at column %d", len(line))
	case inTok:
		args = append(args, string(cur))
	}
	return args, nil
}
