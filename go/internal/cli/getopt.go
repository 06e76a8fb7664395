package cli

import (
	"fmt"
	"strings"
)

// Opt is one parsed option: its letter and, for options that take one, its
// argument.
type Opt struct {
	Name byte
	Arg  string
}

// Getopt parses args (without the program name) as POSIX getopt(3) does with
// the option string spec: each letter is an option; a letter followed by ':'
// takes an argument, either attached ("-t5") or as the next word ("-t 5").
// Flags combine ("-KoN"). Parsing stops at "--" or at the first word that is
// not an option; those words are returned as operands. An unknown option or a
// missing argument is an error with getopt's wording.
func Getopt(args []string, spec string) (opts []Opt, operands []string, err error) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			k := strings.IndexByte(spec, c)
			if c == ':' || k < 0 {
				return opts, nil, fmt.Errorf("invalid option -- '%c'", c)
			}
			if k+1 < len(spec) && spec[k+1] == ':' {
				switch {
				case j+1 < len(a):
					opts = append(opts, Opt{c, a[j+1:]})
				case i+1 < len(args):
					i++
					opts = append(opts, Opt{c, args[i]})
				default:
					return opts, nil, fmt.Errorf("option requires an argument -- '%c'", c)
				}
				break
			}
			opts = append(opts, Opt{Name: c})
		}
	}
	return opts, args[i:], nil
}
