;;; pwnm-sync-git.el --- Patches and git repositories, for pwnm-sync  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The pwnm-sync authors

;; Author: The pwnm-sync authors
;; Keywords: mail, tools
;; URL: https://github.com/pwnm-sync/pwnm-sync
;; SPDX-License-Identifier: GPL-3.0-or-later

;; This program is free software: you can redistribute it and/or modify
;; it under the terms of the GNU General Public License as published by
;; the Free Software Foundation, either version 3 of the License, or
;; (at your option) any later version.

;; This program is distributed in the hope that it will be useful,
;; but WITHOUT ANY WARRANTY; without even the implied warranty of
;; MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
;; GNU General Public License for more details.

;; You should have received a copy of the GNU General Public License
;; along with this program.  If not, see <https://www.gnu.org/licenses/>.

;;; Commentary:

;; Where pwnm-sync meets git: accepting patches from the commits of a
;; repository, and applying patches (with b4) to the project's
;; repository.

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'notmuch)
(require 'pwnm-sync-rpc)
(require 'pwnm-sync-notmuch)

;; Defined in pwnm-sync.el, which loads this file.
(defvar pwnm-sync-project-repositories)

;;; Commits

(defun pwnm-sync-accept-from-git (repo range &optional dry-run)
  "Mark accepted the patches that became the commits of RANGE in REPO.
Patches are found by Patchwork's diff hash, else by the message-id of a
Link: or Message-Id: trailer; their commit_ref is set too.  With
DRY-RUN (interactively, \[negative-argument]), only report.  Returns
at once; the outcome goes to *pwnm-sync* and the echo area."
  (interactive
   (let ((dry-run (pwnm-sync--dry-run-p current-prefix-arg))
         (root (or (locate-dominating-file default-directory ".git")
                   (read-directory-name "Git repository: "))))
     (list (expand-file-name root)
           (read-string "Commits: " "@{upstream}..HEAD")
           dry-run)))
  (pwnm-sync--message "Matching the commits of %s..." range)
  (pwnm-sync--request
   :acceptFromGit (list :repo (expand-file-name repo) :range range :dryRun (if dry-run t :json-false))
   :label "accept-from-git"
   :needs-token t
   :success (lambda (result) (pwnm-sync--accept-done result dry-run))))

(defun pwnm-sync--accept-done (result dry-run)
  "Log and show the accept-from-git RESULT (of a DRY-RUN or not)."
  (let ((matched (plist-get result :matched)))
    (seq-doseq (m matched)
      (pwnm-sync--log "accept %s %s -> %s patch %s (by %s): %s" (substring (plist-get m :commit) 0 12)
                      (plist-get m :subject) (plist-get m :project) (plist-get m :patchId)
                      (plist-get m :via) (plist-get m :outcome)))
    (seq-doseq (u (plist-get result :unmatched))
      (pwnm-sync--log "accept %s %s: unmatched" (substring (plist-get u :commit) 0 12) (plist-get u :subject)))
    (seq-doseq (a (plist-get result :ambiguous))
      (pwnm-sync--log "accept %s %s: ambiguous" (substring (plist-get a :commit) 0 12) (plist-get a :subject)))
    (pwnm-sync--message "%s%d matched, %d ambiguous, %d unmatched (see *pwnm-sync*)"
                        (if dry-run "Dry run: " "")
                        (length matched) (length (plist-get result :ambiguous))
                        (length (plist-get result :unmatched)))))

;;; Applying patches

(declare-function magit-status "magit-status" (&optional directory cache))

(defvar pwnm-sync--apply-running nil
  "Non-nil while an apply runs.")

(defun pwnm-sync--apply-project ()
  "Return the project (a plist) of the patch or cover letter at point."
  (car (pwnm-sync--read-project (if (pwnm-sync--cover-letter-p)
                                    (pwnm-sync--thread-tags)
                                  (pwnm-sync--patch-tags-at-point)))))

(defun pwnm-sync--project-repository (project)
  "Return the git repository of PROJECT (a plist), asking once.
The answer is remembered in `pwnm-sync-project-repositories', and saved
with Customize when there is a file to save it in."
  (let ((name (plist-get project :project)))
    (or (cdr (assoc name pwnm-sync-project-repositories))
        (plist-get project :repo)
        (let ((dir (file-name-as-directory
                    (expand-file-name (read-directory-name (format "Git repository for %s: " name) nil nil t)))))
          (unless (file-exists-p (expand-file-name ".git" dir))
            (user-error "%s is not a git repository" dir))
          (pwnm-sync--remember 'pwnm-sync-project-repositories
                               (cons (cons name dir) (assoc-delete-all name (copy-sequence pwnm-sync-project-repositories))))
          dir))))

(declare-function custom-file "cus-edit" (&optional no-error))

(defun pwnm-sync--remember (symbol value)
  "Set the option SYMBOL to VALUE, and save it with Customize if you say so.
Your init file (or `custom-file') is written only after a `y-or-n-p';
when there is none, or it cannot be written, VALUE holds for this
session and the echo area says why."
  (customize-set-variable symbol value)
  (require 'cus-edit)
  (let ((file (custom-file t)))
    (cond ((null file)
           (pwnm-sync--message "%s set for this session: no init file to save it in" symbol))
          ((not (y-or-n-p (format "Save %s in %s? " symbol (abbreviate-file-name file))))
           (pwnm-sync--message "%s set for this session only" symbol))
          ((not (file-writable-p file))
           (pwnm-sync--message "%s set for this session only: %s cannot be written" symbol
                               (abbreviate-file-name file)))
          (t (condition-case err
                 (progn (customize-save-variable symbol value)
                        (pwnm-sync--message "%s saved in %s" symbol (abbreviate-file-name file)))
               (error (pwnm-sync--error "%s set for this session only: saving it in %s failed: %s"
                                        symbol (abbreviate-file-name file) (error-message-string err))))))))

(defun pwnm-sync--apply-buffer ()
  "Return the *pwnm-sync apply* buffer, emptied."
  (with-current-buffer (get-buffer-create "*pwnm-sync apply*")
    (unless (derived-mode-p 'special-mode) (special-mode))
    (let ((inhibit-read-only t)) (erase-buffer))
    (current-buffer)))

(defun pwnm-sync--apply-insert (format-string &rest args)
  "Append FORMAT-STRING formatted with ARGS to the *pwnm-sync apply* buffer."
  (with-current-buffer (get-buffer-create "*pwnm-sync apply*")
    (let ((inhibit-read-only t))
      (goto-char (point-max))
      (insert (apply #'format format-string args)))))

(defun pwnm-sync--apply-done (result repo)
  "Show the apply RESULT for REPO.
On a conflict, display *pwnm-sync apply* without selecting it: this
runs from the server's answer, maybe while you type elsewhere.  It has
a button to `magit-status' in REPO when magit is installed."
  (setq pwnm-sync--apply-running nil)
  (seq-doseq (p (plist-get result :patches))
    (pwnm-sync--apply-insert "%-11s %s\n" (plist-get p :outcome) (plist-get p :subject)))
  (pwnm-sync--apply-insert "\n%s\n\n%s" (plist-get result :message) (plist-get result :output))
  (pwnm-sync--log "apply: %s" (plist-get result :message))
  (if (not (equal (plist-get result :outcome) "conflict"))
      (pwnm-sync--message "%s" (car (split-string (plist-get result :message) "\n")))
    (pwnm-sync--message "Patch %s/%d does not apply: see *pwnm-sync apply*"
                        (plist-get (plist-get result :failed) :index) (length (plist-get result :patches)))
    (when (fboundp 'magit-status)
      (with-current-buffer "*pwnm-sync apply*"
        (let ((inhibit-read-only t))
          (goto-char (point-max))
          (insert "\n")
          (insert-text-button "[magit-status]" 'action (lambda (_) (magit-status repo)) 'follow-link t
                              'help-echo (format "Open magit-status in %s" repo))
          (insert "\n"))))
    (display-buffer "*pwnm-sync apply*")))

(defun pwnm-sync-apply (message-id project repo &optional single)
  "Apply the series of the patch MESSAGE-ID of PROJECT to the git REPO.
With SINGLE (interactively, the command `pwnm-sync-apply-patch'), only
that patch; a cover letter always means its series.  A prefix
argument changes nothing: it means the series everywhere.

The server downloads the mbox
from Patchwork, with the trailers that replies collected, and runs
`git am' without blocking Emacs; the outcome and git's output go to
the *pwnm-sync apply* buffer.  On a conflict the repository stays in
`git am', and that buffer is displayed (not selected), with a button
to `magit-status' when magit is installed.
Interactively REPO comes from `pwnm-sync-project-repositories', asked
for the first time."
  (interactive
   (let ((project (pwnm-sync--apply-project)))
     (list (pwnm-sync--target-id-at-point) (plist-get project :project)
           (pwnm-sync--project-repository project))))
  (let ((repo (expand-file-name repo)))
    (pwnm-sync--apply-start (format "%s of %s" (if single "the patch" "the series") message-id)
                            (list :messageId message-id :project project :repo repo
                                  :series (if single :json-false t))
                            repo)))

(defun pwnm-sync--apply-start (what params repo)
  "Ask the server to apply WHAT (words for people) to REPO, without waiting.
PARAMS are the `apply' request's; `pwnm-sync--apply-done' shows the outcome."
  (when pwnm-sync--apply-running
    (user-error "An apply is already running; see *pwnm-sync apply*"))
  (setq pwnm-sync--apply-running t)
  (pwnm-sync--apply-buffer)
  (pwnm-sync--apply-insert "Applying %s to %s\n\n" what repo)
  (pwnm-sync--message "Applying %s to %s..." what repo)
  (pwnm-sync--request
   :apply params
   :label "apply"
   :timeout nil
   :success (lambda (result) (pwnm-sync--apply-done result repo))
   :cancelled (lambda ()
                (setq pwnm-sync--apply-running nil)
                (pwnm-sync--apply-insert "Cancelled: the repository is back where it was.\n")
                (pwnm-sync--message "Apply cancelled: see *pwnm-sync apply*"))
   :error (lambda (err)
            (setq pwnm-sync--apply-running nil)
            (let ((text (pwnm-sync--request-error-message err)))
              (pwnm-sync--apply-insert "%s\n" text)
              (pwnm-sync--error "Apply failed: %s" text)))))

(defun pwnm-sync-apply-patch (message-id project repo)
  "Apply only the patch MESSAGE-ID of PROJECT to the git REPO.
As `pwnm-sync-apply' with SINGLE; on a cover letter, its series."
  (interactive
   (let ((project (pwnm-sync--apply-project)))
     (list (pwnm-sync--target-id-at-point) (plist-get project :project)
           (pwnm-sync--project-repository project))))
  (pwnm-sync-apply message-id project repo t))

(provide 'pwnm-sync-git)
;;; pwnm-sync-git.el ends here
