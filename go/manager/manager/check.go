package manager

import (
	"fmt"
	"io"

	"github.com/pluton-go/pluton/go/manager/config"
	"github.com/pluton-go/pluton/go/manager/process"
)

// Check checks the configuration directory dir without starting anything
// (plutonManager -n, like nginx -t): the directory must be readable and
// trusted, every service file must load (syntax, limits, trust, user and
// group known), and every service's exec program must exist and be
// executable (and its cd be a directory). Each problem is printed to w as
// one "Config Error:" line, warnings as "Config Warning:" lines, and a
// summary line comes last. The result is the exit code: 0 when there is no
// problem, 1 otherwise.
func Check(dir string, w io.Writer) int {
	res, err := config.Scan(dir)
	if err != nil {
		fmt.Fprintf(w, "Config Error: configuration directory %s: %v\n", dir, unwrapPath(err))
		fmt.Fprintf(w, "plutonManager -n: %s: configuration test failed\n", dir)
		return 1
	}
	problems, good := 0, 0
	for _, ig := range res.Ignored {
		fmt.Fprintf(w, "Config Warning: %s\n", ig.Reason)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "Config Error: %v\n", e)
		problems++
	}
	for _, cfg := range res.Services {
		for _, warn := range cfg.Warnings {
			fmt.Fprintf(w, "Config Warning: %s: %s\n", cfg.Key, warn)
		}
		if err := process.CheckExec(cfg.Argv[0], cfg.Cd); err != nil {
			fmt.Fprintf(w, "Config Error: %s: %v\n", cfg.Path, err)
			problems++
			continue
		}
		good++
	}
	if problems > 0 {
		fmt.Fprintf(w, "plutonManager -n: %s: %d service(s) ready, %d problem(s): configuration test failed\n",
			dir, good, problems)
		return 1
	}
	fmt.Fprintf(w, "plutonManager -n: %s: %d service(s), configuration test is successful\n", dir, good)
	return 0
}
