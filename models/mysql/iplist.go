package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// ipRows is how many ranges one INSERT carries: 5 placeholders each, far below the protocol's
// 65535, and ~2.5 MB per statement, below the server's default max_allowed_packet of 16 MB.
const ipRows = 5000

// ipKey is a range as stored: both ends as 16 bytes (IPv4 mapped into IPv6), which sort the
// way the addresses do.
type ipKey struct {
	first, last [16]byte
	i           int // index into the caller's slice, for CIDR and Note
}

func validIPList(list string) error {
	if list != models.IPListBlocked && list != models.IPListDatacenter {
		return models.Errorf(models.EINVALID, "ip list %q: must be %s or %s", list, models.IPListBlocked, models.IPListDatacenter)
	}
	return nil
}

// ReplaceIPList replaces the whole content of list with ranges, atomically: readers see either
// the old list or the new one. Ranges are validated first (EINVALID names the first bad one);
// identical ranges are stored once, keeping the first one's CIDR and note. Inserts are batched
// multi-row statements in primary key order, which keeps a million-range import to seconds.
func (s *Store) ReplaceIPList(ctx context.Context, list string, ranges []models.IPRange) error {
	if err := validIPList(list); err != nil {
		return err
	}
	keys := make([]ipKey, 0, len(ranges))
	for i := range ranges {
		r := &ranges[i]
		first, last := r.First.Unmap(), r.Last.Unmap()
		switch {
		case !first.IsValid() || !last.IsValid():
			return models.Errorf(models.EINVALID, "ip range %d: first and last address must be set", i)
		case first.Is4() != last.Is4():
			return models.Errorf(models.EINVALID, "ip range %d (%s-%s): addresses of different families", i, first, last)
		case first.Compare(last) > 0:
			return models.Errorf(models.EINVALID, "ip range %d (%s-%s): first address after the last", i, first, last)
		case len(r.CIDR) > 64 || strings.ContainsAny(r.CIDR, "\x00\n"):
			return models.Errorf(models.EINVALID, "ip range %d: cidr %q: at most 64 characters", i, r.CIDR)
		case !utf8.ValidString(r.Note) || utf8.RuneCountInString(r.Note) > 200:
			return models.Errorf(models.EINVALID, "ip range %d: note must be valid UTF-8 of at most 200 characters", i)
		}
		keys = append(keys, ipKey{first: first.As16(), last: last.As16(), i: i})
	}
	slices.SortStableFunc(keys, func(a, b ipKey) int {
		if c := bytes.Compare(a.first[:], b.first[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.last[:], b.last[:])
	})
	keys = slices.CompactFunc(keys, func(a, b ipKey) bool { return a.first == b.first && a.last == b.last })

	err := s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ip_lists WHERE list = ?`, list); err != nil {
			return err
		}
		var full *sqlx.Stmt // the statement for whole batches, prepared once
		args := make([]any, 0, 5*ipRows)
		for start := 0; start < len(keys); start += ipRows {
			batch := keys[start:min(start+ipRows, len(keys))]
			args = args[:0]
			for j := range batch {
				k := &batch[j]
				r := &ranges[k.i]
				args = append(args, list, k.first[:], k.last[:], r.CIDR, r.Note)
			}
			var err error
			if len(batch) == ipRows {
				if full == nil {
					if full, err = tx.PreparexContext(ctx, insertIPsSQL(ipRows)); err != nil {
						return err
					}
					defer full.Close()
				}
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, insertIPsSQL(len(batch)), args...)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return mapError(err, "replace ip list "+list)
}

// insertIPsSQL returns a multi-row INSERT for n ranges.
func insertIPsSQL(n int) string {
	var b strings.Builder
	b.Grow(64 + n*len("(?, ?, ?, ?, ?), "))
	b.WriteString(`INSERT INTO ip_lists (list, first_ip, last_ip, cidr, note) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?)")
	}
	return b.String()
}

// LoadIPList returns the ranges of list in the order of their stored 16-byte form (first, then
// last address; IPv4 sorts as IPv4-mapped IPv6, i.e. within ::ffff:0:0/96). IPv4 ranges come
// back as IPv4 addresses, not IPv4-mapped IPv6.
func (s *Store) LoadIPList(ctx context.Context, list string) ([]models.IPRange, error) {
	if err := validIPList(list); err != nil {
		return nil, err
	}
	rows, err := s.q.QueryxContext(ctx,
		`SELECT first_ip, last_ip, cidr, note FROM ip_lists WHERE list = ? ORDER BY first_ip, last_ip`, list)
	if err != nil {
		return nil, mapError(err, "load ip list "+list)
	}
	defer rows.Close()
	out := []models.IPRange{}
	var first, last sql.RawBytes
	for rows.Next() {
		var r models.IPRange
		if err := rows.Scan(&first, &last, &r.CIDR, &r.Note); err != nil {
			return nil, fmt.Errorf("load ip list %s: %w", list, err)
		}
		if len(first) != 16 || len(last) != 16 {
			return nil, fmt.Errorf("load ip list %s: stored address of %d/%d bytes, want 16", list, len(first), len(last))
		}
		r.First = netip.AddrFrom16([16]byte(first)).Unmap()
		r.Last = netip.AddrFrom16([16]byte(last)).Unmap()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load ip list %s: %w", list, err)
	}
	return out, nil
}
