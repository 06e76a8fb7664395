package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/pluton-go/pluton/go/manager/pool"
	"github.com/pluton-go/pluton/go/manager/status"
)

// source is what plTop reads and controls: the status API.
type source interface {
	Overview(ctx context.Context) (status.Overview, error)
	Control(ctx context.Context, key, action string) (pool.ServiceStatus, error)
}

// column is one column of the services table.
type column struct {
	title string
	width int  // 0: the service key's width
	left  bool // left-aligned
	text  func(status.ServiceView) string
	// less orders two services for this column, largest first for the
	// numeric columns (as top does).
	less func(a, b status.ServiceView) int
}

func numeric[T cmp.Ordered](f func(status.ServiceView) T) func(a, b status.ServiceView) int {
	return func(a, b status.ServiceView) int { return cmp.Compare(f(b), f(a)) }
}

func orZero(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// termFormat writes numbers for a terminal: ASCII marks, no space before a
// unit, so that they fit the columns.
var termFormat = status.Format{Missing: "-", NoRestarts: "none"}

// columns are the services table's columns; the sort key cycles through them.
var columns = []column{
	{title: "SERVICE", left: true, text: func(s status.ServiceView) string { return s.Key },
		less: func(a, b status.ServiceView) int { return cmp.Compare(a.Key, b.Key) }},
	{title: "STATE", width: 14, left: true, text: shortState,
		less: func(a, b status.ServiceView) int { return cmp.Compare(shortState(a), shortState(b)) }},
	{title: "BUSY", width: 5, text: func(s status.ServiceView) string { return fmt.Sprint(s.Busy) },
		less: numeric(func(s status.ServiceView) int { return s.Busy })},
	{title: "IDLE", width: 5, text: func(s status.ServiceView) string { return fmt.Sprint(s.Idle) },
		less: numeric(func(s status.ServiceView) int { return s.Idle })},
	{title: "START", width: 5, text: func(s status.ServiceView) string { return fmt.Sprint(s.Starting) },
		less: numeric(func(s status.ServiceView) int { return s.Starting })},
	{title: "INST", width: 9, text: func(s status.ServiceView) string { return status.InstancesText(s.ServiceStatus) },
		less: numeric(func(s status.ServiceView) int { return s.Instances })},
	{title: "OCC", width: 5, text: func(s status.ServiceView) string { return fmt.Sprintf("%d%%", int(math.Round(s.Occupancy*100))) },
		less: numeric(func(s status.ServiceView) float64 { return s.Occupancy })},
	{title: "BACKLOG", width: 7, text: func(s status.ServiceView) string { return fmt.Sprint(s.Backlog) },
		less: numeric(func(s status.ServiceView) int { return s.Backlog })},
	{title: "REQ/S", width: 8, text: func(s status.ServiceView) string { return termFormat.Rate(s.RequestRate) },
		less: numeric(func(s status.ServiceView) float64 { return orZero(s.RequestRate) })},
	{title: "P50", width: 8, text: func(s status.ServiceView) string { return termFormat.Seconds(s.P50Seconds) },
		less: numeric(func(s status.ServiceView) float64 { return orZero(s.P50Seconds) })},
	{title: "P99", width: 8, text: func(s status.ServiceView) string { return termFormat.Seconds(s.P99Seconds) },
		less: numeric(func(s status.ServiceView) float64 { return orZero(s.P99Seconds) })},
	{title: "REQUESTS", width: 9, text: func(s status.ServiceView) string { return fmt.Sprint(s.Requests) },
		less: numeric(func(s status.ServiceView) uint64 { return s.Requests })},
	{title: "FAULTS", width: 7, text: func(s status.ServiceView) string { return fmt.Sprint(s.Faults) },
		less: numeric(func(s status.ServiceView) uint64 { return s.Faults })},
	{title: "RESTARTS", width: 8, text: func(s status.ServiceView) string { return fmt.Sprint(totalRestarts(s)) },
		less: numeric(totalRestarts)},
}

func totalRestarts(s status.ServiceView) uint64 {
	var n uint64
	for _, v := range s.Restarts {
		n += v
	}
	return n
}

// The messages of the program.
type (
	overviewMsg struct {
		ov  status.Overview
		err error
	}
	controlMsg struct {
		key, action string
		st          pool.ServiceStatus
		err         error
	}
	tickMsg struct{}
)

// stderrLines is how many lines of a crashed instance's stderr tail the
// detail pane shows (the status page shows them all).
const stderrLines = 5

// model is plTop's state.
type model struct {
	src      source
	addr     string
	interval time.Duration

	ov      status.Overview
	have    bool      // ov holds a reply
	err     error     // the last fetch's error
	fetched time.Time // when ov came

	sortCol  int  // index in columns
	reverse  bool // sort order reversed
	selected string
	message  string
	width    int
	height   int
}

func newModel(src source, addr string, interval time.Duration) model {
	return model{src: src, addr: addr, interval: interval, width: 120, height: 40}
}

// Init fetches the first overview.
func (m model) Init() tea.Cmd { return m.fetch() }

func (m model) fetch() tea.Cmd {
	src := m.src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ov, err := src.Overview(ctx)
		return overviewMsg{ov: ov, err: err}
	}
}

func (m model) control(key, action string) tea.Cmd {
	src := m.src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := src.Control(ctx, key, action)
		return controlMsg{key: key, action: action, st: st, err: err}
	}
}

func (m model) tick() tea.Cmd {
	return tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{} })
}

// Update handles keys, replies and ticks.
func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tickMsg:
		return m, m.fetch()
	case overviewMsg:
		m.err = msg.err
		if msg.err == nil {
			m.ov, m.have, m.fetched = msg.ov, true, time.Now()
			m.keepSelection()
		}
		return m, m.tick() // the next look once this one is in: never two at once
	case controlMsg:
		if msg.err != nil {
			m.message = fmt.Sprintf("%s %s failed: %v", msg.action, msg.key, msg.err)
		} else {
			m.message = fmt.Sprintf("%s %s: %s", msg.action, msg.key, shortState(status.ServiceView{ServiceStatus: msg.st}))
		}
		return m, m.fetch()
	case tea.KeyMsg:
		return m.key(msg.String())
	}
	return m, nil
}

// key applies one key press.
func (m model) key(k string) (tea.Model, tea.Cmd) {
	switch k {
	case "q", "ctrl+c", "esc":
		return m, tea.Quit
	case "s":
		m.sortCol = (m.sortCol + 1) % len(columns)
		m.reverse = false
	case "S":
		m.reverse = !m.reverse
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "home", "g":
		m.move(-1 << 30)
	case "end", "G":
		m.move(1 << 30)
	case "h", "H", "r":
		action := map[string]string{"h": "hold", "H": "halt", "r": "resume"}[k]
		if m.selected == "" {
			m.message = "no service selected"
			return m, nil
		}
		m.message = action + " " + m.selected + " ..."
		return m, m.control(m.selected, action)
	}
	return m, nil
}

// sorted returns the running services in the chosen order.
func (m model) sorted() []status.ServiceView {
	var out []status.ServiceView
	for _, s := range m.ov.Services {
		if s.Phase == "running" {
			out = append(out, s)
		}
	}
	c := columns[m.sortCol]
	slices.SortStableFunc(out, func(a, b status.ServiceView) int {
		r := c.less(a, b)
		if r == 0 {
			r = cmp.Compare(a.Key, b.Key)
		}
		if m.reverse {
			r = -r
		}
		return r
	})
	return out
}

// keepSelection selects the first service when the selected one is gone.
func (m *model) keepSelection() {
	list := m.sorted()
	for _, s := range list {
		if s.Key == m.selected {
			return
		}
	}
	m.selected = ""
	if len(list) > 0 {
		m.selected = list[0].Key
	}
}

// move moves the selection by d rows, within the list.
func (m *model) move(d int) {
	list := m.sorted()
	if len(list) == 0 {
		return
	}
	i := slices.IndexFunc(list, func(s status.ServiceView) bool { return s.Key == m.selected })
	i = max(0, min(len(list)-1, i+d))
	m.selected = list[i].Key
}

var (
	titleStyle    = lipgloss.NewStyle().Bold(true).Reverse(true)
	headStyle     = lipgloss.NewStyle().Bold(true)
	selectedStyle = lipgloss.NewStyle().Reverse(true)
	warnStyle     = lipgloss.NewStyle().Foreground(lipgloss.Color("3")).Bold(true)
	badStyle      = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	dimStyle      = lipgloss.NewStyle().Faint(true)
)

// View draws the screen.
func (m model) View() string { return m.render(true) }

// render draws the screen, styled for a terminal or plain (plTop -b).
func (m model) render(styled bool) string {
	style := func(s lipgloss.Style, text string) string {
		if !styled {
			return text
		}
		return s.Render(text)
	}
	width := m.width
	if !styled {
		width = 1 << 20
	}
	var b strings.Builder
	line := func(s lipgloss.Style, text string) {
		b.WriteString(style(s, clip(text, width)))
		b.WriteByte('\n')
	}

	mg := m.ov.Manager
	head := fmt.Sprintf("plTop %s", m.addr)
	if m.have {
		head += fmt.Sprintf("  manager pid %d %s  up %s  CPU %.1f%%  RSS %d MB  services %d  processes %d  %s",
			mg.PID, mg.Version, status.FormatUptime(mg.UptimeSeconds), mg.CPUPercent, mg.MaxRSSMB, mg.Services, mg.Processes,
			m.ov.Time.Local().Format("15:04:05"))
	}
	if styled {
		head = pad(head, min(width, 400)) // the title bar spans the screen
	}
	line(titleStyle, head)
	switch {
	case m.err != nil && m.have:
		line(badStyle, fmt.Sprintf("stale since %s: %v (retrying every %s)", m.fetched.Format("15:04:05"), m.err, m.interval))
	case m.err != nil:
		line(badStyle, fmt.Sprintf("%v (retrying every %s)", m.err, m.interval))
	case !m.have:
		line(dimStyle, "connecting to "+m.addr+" ...")
	default:
		b.WriteByte('\n')
	}

	list := m.sorted()
	keyWidth := len("SERVICE")
	for _, s := range list {
		keyWidth = max(keyWidth, min(len(s.Key), 48))
	}
	cells := func(texts []string) string {
		var parts []string
		for i, c := range columns {
			w := c.width
			if w == 0 {
				w = keyWidth
			}
			t := texts[i]
			if len([]rune(t)) > w {
				t = string([]rune(t)[:w])
			}
			if c.left {
				parts = append(parts, fmt.Sprintf("%-*s", w, t))
			} else {
				parts = append(parts, fmt.Sprintf("%*s", w, t))
			}
		}
		return strings.Join(parts, " ")
	}
	titles := make([]string, len(columns))
	for i, c := range columns {
		titles[i] = c.title
		if i == m.sortCol {
			if m.reverse {
				titles[i] += "^"
			} else {
				titles[i] += "v"
			}
		}
	}
	line(headStyle, "  "+cells(titles))
	var sel *status.ServiceView
	for i, s := range list {
		texts := make([]string, len(columns))
		for j, c := range columns {
			texts[j] = c.text(s)
		}
		marker, st := "  ", lipgloss.NewStyle()
		switch {
		case s.Halted || s.Backoff != nil || strings.Contains(s.Rollout, "failed"):
			st = badStyle
		case s.Held:
			st = warnStyle
		}
		if s.Key == m.selected {
			marker, st = "> ", selectedStyle
			sel = &list[i]
		}
		line(st, marker+cells(texts))
	}
	if len(list) == 0 && m.have {
		line(dimStyle, "  no services")
	}

	if sel != nil {
		b.WriteByte('\n')
		line(headStyle, fmt.Sprintf("%s: %s", sel.Key, longState(*sel)))
		line(lipgloss.NewStyle(), fmt.Sprintf("  restarts: %s   starts %d   rejected %d   occupancy %d%% (target %d%%)   instances %d-%d",
			termFormat.Restarts(sel.Restarts), sel.Starts, sel.Rejected, int(math.Round(sel.Occupancy*100)),
			int(math.Round(sel.OccupancyTarget*100)), sel.MinimumProcesses, sel.MaximumProcesses))
		if sel.Rollout != "" {
			line(badStyle, "  "+sel.Rollout)
		}
		if sel.Unavailable != "" {
			line(warnStyle, "  clients are answered: "+sel.Unavailable)
		}
		if x := sel.LastAbnormalExit; x != nil {
			line(lipgloss.NewStyle(), "  "+status.AbnormalExitText(x))
			tail := x.StderrTail
			if len(tail) > stderrLines {
				tail = tail[len(tail)-stderrLines:]
			}
			for _, l := range tail {
				line(dimStyle, "    | "+l)
			}
		}
		if c := sel.LastCrash; c != nil {
			line(lipgloss.NewStyle(), "  "+status.CrashText(c))
		}
		line(headStyle, fmt.Sprintf("  %7s %4s %-24s %8s %9s %7s %8s  %s", "PID", "SLOT", "STATE", "UPTIME", "REQUESTS", "FAULTS", "BUSY", "LAST STDERR LINE"))
		procs := slices.Clone(sel.Processes)
		slices.SortFunc(procs, func(a, b pool.ProcessStatus) int { return cmp.Compare(a.Slot, b.Slot) })
		for _, p := range procs {
			state := status.ProcessState(p)
			last := ""
			if n := len(p.StderrTail); n > 0 {
				last = p.StderrTail[n-1]
			}
			line(lipgloss.NewStyle(), fmt.Sprintf("  %7d %4d %-24s %8s %9d %7d %7.1fs  %s", p.PID, p.Slot, state,
				status.FormatUptime(p.UptimeSeconds), p.Requests, p.Faults, p.BusySeconds, last))
		}
		if len(procs) == 0 {
			line(dimStyle, "  no instances")
		}
	}

	b.WriteByte('\n')
	if m.message != "" {
		line(warnStyle, m.message)
	}
	order := "descending"
	if columns[m.sortCol].title == "SERVICE" || columns[m.sortCol].title == "STATE" {
		order = "ascending"
	}
	if m.reverse {
		order = "reversed"
	}
	line(dimStyle, fmt.Sprintf("up/down select  s sort (%s, %s)  S reverse  h hold  H halt  r resume  q quit",
		columns[m.sortCol].title, order))
	return b.String()
}

// shortState is the STATE column: serving, held, halted, backoff Ns.
func shortState(s status.ServiceView) string {
	var parts []string
	if s.Halted {
		parts = append(parts, "halted")
	}
	if s.Held {
		parts = append(parts, "held")
	}
	if s.Backoff != nil {
		parts = append(parts, fmt.Sprintf("backoff %.0fs", math.Ceil(s.Backoff.RemainingSeconds)))
	}
	switch {
	case strings.Contains(s.Rollout, "failed"):
		parts = append(parts, "rollout failed")
	case s.Rollout != "":
		parts = append(parts, "rollout")
	}
	if len(parts) == 0 {
		return "serving"
	}
	return strings.Join(parts, ",")
}

// longState says the same with the backoff's reason.
func longState(s status.ServiceView) string {
	t := shortState(s)
	if s.Backoff != nil {
		t += ": " + s.Backoff.Reason
	}
	return t
}

func clip(s string, w int) string {
	r := []rune(s)
	if len(r) > w {
		return string(r[:w])
	}
	return s
}

func pad(s string, w int) string {
	if n := len([]rune(s)); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}
