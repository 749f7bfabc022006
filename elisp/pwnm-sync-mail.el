;;; pwnm-sync-mail.el --- Mail loop commands of pwnm-sync  -*- lexical-binding: t; -*-

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

;; Closing the loop in mail: `pwnm-sync-mail-thanks' (Y t) asks the server
;; for an "applied, thanks" reply per accepted series whose commits are
;; public, which it saves as notmuch drafts, and opens each draft in
;; `notmuch-message-mode' with `notmuch-draft-resume', to edit and send
;; with the user's own setup.  Nothing is sent from here.

;;; Code:

(require 'pwnm-sync)
(require 'notmuch-draft)

;;; Thanks

;;;###autoload
(defun pwnm-sync-mail-thanks (&optional dry-run)
  "Write \"applied, thanks\" drafts for accepted series, and open them.
The server writes one draft per series whose commits are on the
project's public branch (its `branch' setting), looking for them in
the repositories of `pwnm-sync-project-repositories'; each opens with
`notmuch-draft-resume'.  With DRY-RUN (interactively,
\[negative-argument]), only report what would be written."
  (interactive (list (pwnm-sync--dry-run-p current-prefix-arg)))
  (pwnm-sync--message "Looking for accepted series to thank...")
  (pwnm-sync--request
   :thanks (list :dryRun (if dry-run t :json-false)
                 :repos (cl-loop for (project . dir) in pwnm-sync-project-repositories
                                 append (list (intern (concat ":" project)) (expand-file-name dir))))
   :label "thanks"
   :success (lambda (result) (pwnm-sync-mail--thanks-done result dry-run))))

(defun pwnm-sync-mail--thanks-done (result dry-run)
  "Log the thanks RESULT and open its drafts (none on a DRY-RUN)."
  (let ((drafts (append (plist-get result :drafts) nil))
        (held (append (plist-get result :heldBack) nil)))
    (dolist (h held)
      (pwnm-sync--log "thanks: held back %s: %s" (plist-get h :name) (plist-get h :reason)))
    (dolist (d drafts)
      (pwnm-sync--log "thanks: %s %s" (if dry-run "would write" "draft")
                      (plist-get (plist-get d :reply) :subject)))
    (pwnm-sync--message "%d %s, %d patch(es) held back (see *pwnm-sync*)"
                        (length drafts) (if dry-run "reply would be written" "draft(s)")
                        (length held))
    (unless dry-run
      (dolist (d drafts)
        (notmuch-draft-resume (concat "id:" (plist-get d :draftId)))))))

;;; Mail that never reached notmuch

;;;###autoload
(defun pwnm-sync-mail-fill (&optional dry-run)
  "Fetch from Patchwork the mail of patches that are not in notmuch.
The server downloads each patch's (or whole series') mbox and adds
it with `notmuch insert', tagged as new mail and with its pw- tags,
so that it threads with the replies already there; nothing that
notmuch holds is added twice.  With DRY-RUN (interactively,
\[negative-argument]), only report what would be fetched."
  (interactive (list (pwnm-sync--dry-run-p current-prefix-arg)))
  (pwnm-sync--message "Fetching the mail of patches not in notmuch...")
  (pwnm-sync--request
   :fill (list :dryRun (if dry-run t :json-false))
   :label "fill"
   :success (lambda (result)
              (let ((failed (append (plist-get result :failed) nil)))
                (dolist (f failed)
                  (pwnm-sync--log "fill: %s: %s" (plist-get f :url) (plist-get f :reason)))
                (pwnm-sync--message "%s %d mail(s), %d failed, %d left for another run"
                                    (if dry-run "Would fetch" "Added")
                                    (length (plist-get result (if dry-run :planned :added)))
                                    (length failed) (plist-get result :left)))
              (pwnm-sync-hello-refresh-counts))))

(provide 'pwnm-sync-mail)
;;; pwnm-sync-mail.el ends here
