;;; pwnm-sync-transient.el --- The Y menu of pwnm-sync, a transient  -*- lexical-binding: t; -*-

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

;; `pwnm-sync-dispatch', the menu on `pwnm-sync-key-prefix' ("Y"): a
;; named transient prefix command (transient is part of Emacs 28.1),
;; so it can be rebound, with the letters of `pwnm-sync-state-map'.
;; "Y a" stays two keystrokes: the popup shows as `transient-show-popup'
;; says, and a key typed before it does not wait for it.  Its header
;; names the patch at point (project, state, CI verdict, series
;; position, delegate); its switches carry the command line's options
;; (--series, --3way, --state, --dry-run) to the state and apply keys.
;; A prefix argument before Y means the whole series, as everywhere.
;; The commands it runs stay plain commands for the keymap.

;;; Code:

(require 'transient)
(require 'pwnm-sync)
(require 'pwnm-sync-show)

(defcustom pwnm-sync-use-transient t
  "Non-nil: `pwnm-sync-key-prefix' opens the `pwnm-sync-dispatch' menu.
nil: it is the plain prefix keymap `pwnm-sync-state-map'.  Takes
effect when `pwnm-sync-mode' is turned on."
  :type 'boolean
  :group 'pwnm-sync)

;;; The switches

(defun pwnm-sync-dispatch--args ()
  "Return what `pwnm-sync-dispatch' switched on for this command."
  (and (eq transient-current-command 'pwnm-sync-dispatch)
       (transient-args 'pwnm-sync-dispatch)))

(defvar pwnm-sync-dispatch--prefix-arg nil
  "The prefix argument given to `pwnm-sync-dispatch' itself (C-u Y a).")

(defun pwnm-sync-dispatch--prefix-arg ()
  "Return the prefix argument given before Y, or before the menu's key."
  (or current-prefix-arg
      (and (eq transient-current-command 'pwnm-sync-dispatch) pwnm-sync-dispatch--prefix-arg)))

(defun pwnm-sync-dispatch--series-p ()
  "Return non-nil if the command acts on the whole series.
The -s switch, or a prefix argument as with the plain keymap."
  (or (pwnm-sync-dispatch--prefix-arg) (member "--series" (pwnm-sync-dispatch--args))))

;;; The header

(defun pwnm-sync-dispatch--header ()
  "Return the menu's header: the facts of the patch at point."
  (let ((id (ignore-errors (pwnm-sync--message-id-at-point)))
        (tags (ignore-errors (pwnm-sync--tags-at-point))))
    (concat (propertize "Patchwork: " 'face 'transient-heading)
            (if (not (and id tags))
                "no patch at point"
              (let ((parts (pwnm-sync-facts-parts id tags)))
                (unless (pwnm-sync-facts-cached-p id)
                  ;; Ask in the background; redraw the menu when it answers.
                  (pwnm-sync-facts-request id (lambda (_) (when transient--prefix
                                                            (ignore-errors (transient--redisplay))))))
                (if parts (string-join parts " · ") "not a patch of a synced project"))))))

;;; Suffixes

(defmacro pwnm-sync-dispatch--define-state (state)
  "Define `pwnm-sync-dispatch-STATE', setting STATE, with -s for the series."
  (let ((name (intern (format "pwnm-sync-dispatch-%s" state))))
    `(transient-define-suffix ,name ()
       ,(format "Set the Patchwork state of the patch at point to %s.
The whole series with the -s switch or a prefix argument." state)
       :description ,state
       (interactive)
       (pwnm-sync-set-state ,state nil (pwnm-sync-dispatch--series-p)))))

(pwnm-sync-dispatch--define-state "accepted")
(pwnm-sync-dispatch--define-state "under-review")
(pwnm-sync-dispatch--define-state "changes-requested")
(pwnm-sync-dispatch--define-state "rejected")
(pwnm-sync-dispatch--define-state "superseded")
(pwnm-sync-dispatch--define-state "new")
(pwnm-sync-dispatch--define-state "rfc")
(pwnm-sync-dispatch--define-state "deferred")
(pwnm-sync-dispatch--define-state "not-applicable")
(pwnm-sync-dispatch--define-state "awaiting-upstream")

(transient-define-suffix pwnm-sync-dispatch-set-state (state)
  "Choose a Patchwork STATE for the patch at point (the series with -s).
On a cover letter, for its series, as the state keys."
  (interactive (list (pwnm-sync--read-state (pwnm-sync--patch-projects-at-point))))
  (pwnm-sync-set-state state nil (pwnm-sync-dispatch--series-p)))

(defun pwnm-sync-dispatch--apply (single)
  "Apply the patch at point with the menu's options; SINGLE: that patch alone."
  (let* ((args (pwnm-sync-dispatch--args))
         (project (pwnm-sync--apply-project)))
    (pwnm-sync-apply-with (pwnm-sync--target-id-at-point) (plist-get project :project)
                          (pwnm-sync--project-repository project)
                          :single (or single (member "--single" args))
                          :three-way (member "--3way" args)
                          :state (transient-arg-value "--state=" args)
                          :dry-run (member "--dry-run" args))))

(transient-define-suffix pwnm-sync-dispatch-apply ()
  "Apply the series of the patch at point with the menu's switches.
Only the patch with -1; -3 falls back to a 3-way merge, -S sets the
state after a clean apply, -n only checks.  A prefix argument means
the series, as it does everywhere."
  (interactive)
  (pwnm-sync-dispatch--apply nil))

(transient-define-suffix pwnm-sync-dispatch-apply-patch ()
  "Apply only the patch at point, with the menu's other switches."
  (interactive)
  (pwnm-sync-dispatch--apply t))

(transient-define-suffix pwnm-sync-dispatch-thanks ()
  "Write the \"applied, thanks\" drafts; with -n or M-- only report."
  (interactive)
  (pwnm-sync-mail-thanks (or (member "--dry-run" (pwnm-sync-dispatch--args))
                             (pwnm-sync--dry-run-p (pwnm-sync-dispatch--prefix-arg)))))

(transient-define-suffix pwnm-sync-dispatch-bundle-add ()
  "Add the patch at point to a bundle; its whole series with -s or a prefix argument."
  (interactive)
  (let ((current-prefix-arg (and (pwnm-sync-dispatch--series-p) '(4))))
    (call-interactively #'pwnm-sync-bundle-add)))

(transient-define-suffix pwnm-sync-dispatch-keys ()
  "Show this menu in full, whatever `transient-show-popup' says."
  :transient t
  (interactive)
  (transient--show))

(defun pwnm-sync-dispatch--read-state (prompt _initial history)
  "Read a state slug with PROMPT and HISTORY, for the -S switch."
  (completing-read prompt (delete-dups (cl-loop for p in (pwnm-sync--projects)
                                                append (mapcar #'car (pwnm-sync--state-tags p))))
                   nil t nil history))

;;;###autoload (autoload 'pwnm-sync-dispatch "pwnm-sync-transient" nil t)
(transient-define-prefix pwnm-sync-dispatch (arg)
  "Patchwork: states, apply, bundles and sync of the patch at point.
A prefix argument ARG before Y means the series, as with the keymap."
  [:description pwnm-sync-dispatch--header
   ("-s" "whole series (as C-u)" "--series")
   ("-1" "single patch (apply)" "--single")
   ("-3" "3-way merge (apply)" "--3way")
   ("-S" "set state after apply" "--state=" :reader pwnm-sync-dispatch--read-state)
   ("-n" "dry run (apply, thanks)" "--dry-run")]
  [["State"
    ("a" "accepted" pwnm-sync-dispatch-accepted)
    ("u" "under review" pwnm-sync-dispatch-under-review)
    ("c" "changes requested" pwnm-sync-dispatch-changes-requested)
    ("r" "rejected" pwnm-sync-dispatch-rejected)
    ("s" "superseded" pwnm-sync-dispatch-superseded)
    ("n" "new" pwnm-sync-dispatch-new)
    ("f" "RFC" pwnm-sync-dispatch-rfc)
    ("d" "deferred" pwnm-sync-dispatch-deferred)
    ("N" "not applicable" pwnm-sync-dispatch-not-applicable)
    ("w" "awaiting upstream" pwnm-sync-dispatch-awaiting-upstream)
    ("Y" "choose a state" pwnm-sync-dispatch-set-state)
    ("SPC" "a state, then next patch" pwnm-sync-then-next)]
   ["Patch"
    ("A" "archive / unarchive" pwnm-sync-toggle-archived)
    ("m" "delegate to me" pwnm-sync-delegate-to-me)
    ("i" "facts (asks CI)" pwnm-sync-patch-info)
    ("I" "facts, re-read" pwnm-sync-patch-info-refresh)
    ("b" "browse on Patchwork" pwnm-sync-browse)
    ("!" "apply series to git" pwnm-sync-dispatch-apply)
    ("1" "apply this patch alone" pwnm-sync-dispatch-apply-patch)
    ("t" "thanks drafts" pwnm-sync-dispatch-thanks)]
   ["Bundles"
    ("B" "add to bundle" pwnm-sync-dispatch-bundle-add)
    ("D" "remove from bundle" pwnm-sync-bundle-remove)
    ("l" "list bundles" pwnm-sync-bundles)]
   ["Sync"
    ("g" "sync now" pwnm-sync)
    ("G" "full sync" pwnm-sync-full)
    ("p" "what waits" pwnm-sync-pending)
    ("k" "cancel" pwnm-sync-cancel)
    ("?" "show this menu" pwnm-sync-dispatch-keys)]]
  (interactive "P")
  (setq pwnm-sync-dispatch--prefix-arg arg)
  (transient-setup 'pwnm-sync-dispatch))

;;; Set a state, then the next patch

(defun pwnm-sync-next-patch ()
  "Move to the next patch message: in show, of the thread; else the next line."
  (interactive)
  (pcase major-mode
    ('notmuch-show-mode
     (let ((start (point)) (found nil))
       (while (and (not found) (notmuch-show-goto-message-next))
         (setq found (member "patchwork" (notmuch-show-get-tags))))
       (unless found
         (goto-char start)
         (message "No next patch in this thread"))))
    ('notmuch-tree-mode (notmuch-tree-next-matching-message))
    ('notmuch-search-mode (notmuch-search-next-thread))))

(defmacro pwnm-sync-then-next--define (state)
  "Define `pwnm-sync-then-next-STATE': set STATE, then the next patch."
  (let ((name (intern (format "pwnm-sync-then-next-%s" state))))
    `(transient-define-suffix ,name ()
       ,(format "Set the Patchwork state of the patch at point to %s, then go to the next patch." state)
       :description ,state
       (interactive)
       (pwnm-sync-set-state ,state nil nil)
       (pwnm-sync-next-patch))))

(pwnm-sync-then-next--define "accepted")
(pwnm-sync-then-next--define "under-review")
(pwnm-sync-then-next--define "changes-requested")
(pwnm-sync-then-next--define "rejected")
(pwnm-sync-then-next--define "superseded")
(pwnm-sync-then-next--define "new")
(pwnm-sync-then-next--define "deferred")
(pwnm-sync-then-next--define "not-applicable")

;;;###autoload (autoload 'pwnm-sync-then-next "pwnm-sync-transient" nil t)
(transient-define-prefix pwnm-sync-then-next ()
  "Set the state of the patch at point, then go to the next patch."
  ["Set the state, then the next patch"
   ("a" "accepted" pwnm-sync-then-next-accepted)
   ("u" "under review" pwnm-sync-then-next-under-review)
   ("c" "changes requested" pwnm-sync-then-next-changes-requested)
   ("r" "rejected" pwnm-sync-then-next-rejected)
   ("s" "superseded" pwnm-sync-then-next-superseded)
   ("n" "new" pwnm-sync-then-next-new)
   ("d" "deferred" pwnm-sync-then-next-deferred)
   ("N" "not applicable" pwnm-sync-then-next-not-applicable)])

;;; Applying with options

(cl-defun pwnm-sync-apply-with (message-id project repo &key single three-way state dry-run)
  "Apply the series of MESSAGE-ID of PROJECT to REPO, as `pwnm-sync-apply'.
SINGLE: only that patch.  THREE-WAY: `git am -3'.  STATE: set it on
Patchwork for the applied patches.  DRY-RUN: check only, the
repository is left as it was."
  (when pwnm-sync--apply-running
    (user-error "An apply is already running; see *pwnm-sync apply*"))
  (let ((repo (expand-file-name repo))
        (what (if single "the patch" "the series")))
    (setq pwnm-sync--apply-running t)
    (pwnm-sync--apply-buffer)
    (pwnm-sync--apply-insert "Applying %s of %s to %s%s\n\n" what message-id repo (if dry-run " (dry run)" ""))
    (pwnm-sync--message "Applying %s to %s..." what repo)
    (pwnm-sync--request
     :apply (append (list :messageId message-id :project project :repo repo
                          :series (if single :json-false t)
                          :threeWay (if three-way t :json-false)
                          :dryRun (if dry-run t :json-false))
                    (and state (list :state state)))
     :label "apply"
     :needs-token (and state t)
     :timeout nil
     :success (lambda (result) (pwnm-sync--apply-done result repo))
     :cancelled (lambda ()
                  (setq pwnm-sync--apply-running nil)
                  (pwnm-sync--apply-insert "Cancelled: the repository is back where it was.\n"))
     :error (lambda (err)
              (setq pwnm-sync--apply-running nil)
              (let ((text (pwnm-sync--request-error-message err)))
                (pwnm-sync--apply-insert "%s\n" text)
                (pwnm-sync--error "Apply failed: %s" text))))))

;;; Binding it

(defun pwnm-sync-transient-install ()
  "Put `pwnm-sync-dispatch' where the mode put the state keymap.
Called by `pwnm-sync-mode' after it bound `pwnm-sync-state-map'."
  (when pwnm-sync-use-transient
    (dolist (map pwnm-sync--mode-maps)
      (when (eq (lookup-key (symbol-value map) pwnm-sync-key-prefix) pwnm-sync-state-map)
        (define-key (symbol-value map) pwnm-sync-key-prefix #'pwnm-sync-dispatch)))))

(defun pwnm-sync-transient-uninstall ()
  "Put the state keymap back where the menu is, for the mode to undo it."
  (dolist (map pwnm-sync--mode-maps)
    (when (eq (lookup-key (symbol-value map) pwnm-sync-key-prefix) #'pwnm-sync-dispatch)
      (define-key (symbol-value map) pwnm-sync-key-prefix pwnm-sync-state-map))))

(provide 'pwnm-sync-transient)
;;; pwnm-sync-transient.el ends here
