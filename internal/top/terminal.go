package top

import (
	"bytes"
	"context"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// terminal is stdout, and stdin when both are a terminal: the alternate screen, a hidden
// cursor and single-key input while top runs, all restored by Restore. On anything else
// (a pipe, a file) frames are simply appended.
type terminal struct {
	out   io.Writer
	tty   bool // out is a terminal: redraw in place, with colours
	fd    int  // stdout's descriptor, for its size
	in    int  // stdin's descriptor when it is a terminal in cbreak mode, else -1
	saved *unix.Termios
}

// openTerminal prepares out for drawing: on a terminal it switches to the alternate screen,
// hides the cursor and puts stdin in cbreak mode (keys unechoed, one at a time).
func openTerminal(out io.Writer) *terminal {
	t := &terminal{out: out, fd: -1, in: -1}
	if f, ok := out.(*os.File); ok {
		if _, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
			t.tty, t.fd = true, int(f.Fd())
		}
	}
	if !t.tty {
		return t
	}
	io.WriteString(out, "\x1b[?1049h\x1b[?25l") // alternate screen, hide the cursor
	in := int(os.Stdin.Fd())
	if saved, err := unix.IoctlGetTermios(in, unix.TCGETS); err == nil {
		raw := *saved
		// cbreak: keys arrive one at a time, unechoed; ISIG stays on so Ctrl-C is SIGINT.
		raw.Lflag &^= unix.ICANON | unix.ECHO
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if unix.IoctlSetTermios(in, unix.TCSETS, &raw) == nil {
			t.in, t.saved = in, saved
		}
	}
	return t
}

// isTTY reports whether the output is a terminal (frames redrawn in place, with colours).
func (t *terminal) isTTY() bool { return t.tty }

// keys returns a channel closed when q is pressed (never, without a terminal).
func (t *terminal) keys(ctx context.Context) <-chan struct{} {
	quit := make(chan struct{})
	if t.in < 0 {
		return quit
	}
	go func() {
		b := make([]byte, 1)
		for ctx.Err() == nil {
			n, err := os.Stdin.Read(b)
			if err != nil {
				return
			}
			if n == 1 && (b[0] == 'q' || b[0] == 'Q' || b[0] == 3) {
				close(quit)
				return
			}
		}
	}()
	return quit
}

// width returns the terminal's width in columns, or 160 when it is not a terminal.
func (t *terminal) width() int {
	if t.fd >= 0 {
		if ws, err := unix.IoctlGetWinsize(t.fd, unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 160
}

// frame shows one refresh: drawn over the previous one on a terminal (each line cleared
// to its end, the rest of the screen below), appended otherwise.
func (t *terminal) frame(b []byte) (int, error) {
	if !t.tty {
		return t.out.Write(append(b, '\n'))
	}
	var buf bytes.Buffer
	buf.WriteString("\x1b[H")
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		buf.Write(bytes.TrimSuffix(line, []byte("\n")))
		if bytes.HasSuffix(line, []byte("\n")) {
			buf.WriteString("\x1b[K\n")
		}
	}
	buf.WriteString("\x1b[J")
	return t.out.Write(buf.Bytes())
}

// restore gives the terminal back as it was: stdin's mode, the cursor, the main screen.
func (t *terminal) restore() {
	if t.saved != nil {
		_ = unix.IoctlSetTermios(t.in, unix.TCSETS, t.saved)
	}
	if t.tty {
		io.WriteString(t.out, "\x1b[?25h\x1b[?1049l")
	}
}
