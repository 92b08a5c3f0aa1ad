//go:build !linux

package pgfiles

import (
	"errors"
	"io/fs"
	"path"
)

// SyncFiles makes the files rels (those that exist) and their directories
// durable: an fsync per file, one per directory.
func (d Dir) SyncFiles(rels []string) error {
	dirs := map[string]bool{}
	for _, rel := range rels {
		err := d.SyncFile(rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		dirs[path.Dir(rel)] = true
	}
	for dir := range dirs {
		if err := d.SyncDir(dir); err != nil {
			return err
		}
	}
	return nil
}
