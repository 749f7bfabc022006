;;; pwnm-sync.el --- Patchwork patch states in notmuch  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The pwnm-sync authors

;; Author: The pwnm-sync authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (jsonrpc "1.0.14") (notmuch "0.37"))
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

;; Patchwork patch states as notmuch tags, inside notmuch-emacs.
;;
;; The `pwnm-sync' command line keeps every patch mail tagged with its
;; Patchwork state (pw-PROJECT-STATE).  This package talks to its
;; JSON-RPC server (`pwnm-sync serve') and gives notmuch-emacs:
;;
;; - a "Patchwork" section in `notmuch-hello' with counts per project
;;   and state, built with notmuch-hello's own machinery;
;; - `pwnm-sync-mode', a global minor mode that puts a state keymap on
;;   `pwnm-sync-key-prefix' (default "Y") in notmuch-show, -tree and
;;   -search: one key per common state, and one to choose any state;
;; - pushing to Patchwork every state-tag change made in Emacs, by any
;;   command, through `notmuch-after-tag-hook';
;; - \\[pwnm-sync] to sync without blocking Emacs (`pwnm-sync-full'
;;   re-reads everything), `pwnm-sync-cancel', `pwnm-sync-pending',
;;   `pwnm-sync-patch-info' and `pwnm-sync-browse';
;; - your Patchwork bundles: `pwnm-sync-bundle-add' and
;;   `pwnm-sync-bundle-remove', and one notmuch-hello entry per bundle.
;;
;; Setup:
;;
;;   (require 'pwnm-sync)
;;   (pwnm-sync-mode 1)
;;
;; Tokens come from the pwnm-sync config file, or from auth-source
;; (e.g. ~/.authinfo.gpg: "machine patchwork.ozlabs.org password TOKEN")
;; and are handed to the server in memory, never written anywhere.
;;
;; There are few settings, on purpose; see M-x customize-group RET
;; pwnm-sync.

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'url-parse)
(require 'jsonrpc)
(require 'auth-source)
(require 'browse-url)
(require 'tabulated-list)
(require 'notmuch)
(require 'notmuch-hello)
(require 'notmuch-show)
(require 'notmuch-tree)
(require 'notmuch-tag)

;;; Customization

(defgroup pwnm-sync nil
  "Patchwork patch states as notmuch tags."
  :group 'notmuch
  :prefix "pwnm-sync-")

(defcustom pwnm-sync-server-command nil
  "Command that starts the pwnm-sync JSON-RPC server.
A list of a program and its arguments, e.g. (\"pwnm-sync\" \"serve\").
nil means find it: the `pwnm-sync' program on variable `exec-path',
else the build
in the checkout this file was loaded from."
  :type '(choice (const :tag "Find it" nil)
                 (repeat :tag "Program and arguments" string)))

(defcustom pwnm-sync-config-file nil
  "The pwnm-sync config file, or nil for its default search."
  :type '(choice (const :tag "Default" nil) file))

(defcustom pwnm-sync-hello-states '("new" "under-review" "changes-requested" "delegated" "check-fail")
  "Entries of the \"Patchwork\" section of `notmuch-hello', per project.
Each is a state slug, or one of the other tag families: \"delegated\"
\(delegated to you), \"check-fail\", \"check-warning\", \"archived\"."
  :type '(repeat (choice (const :tag "Delegated to me" "delegated")
                         (const :tag "CI failed" "check-fail")
                         (const :tag "CI warned" "check-warning")
                         (const :tag "Archived" "archived")
                         (string :tag "State slug"))))

(defcustom pwnm-sync-key-prefix "Y"
  "Key for the state keymap in notmuch show, tree and search buffers.
\"Y\" is free in all three maps in notmuch 0.37.  Takes effect when
`pwnm-sync-mode' is turned on."
  :type 'key-sequence)

(defcustom pwnm-sync-project-repositories nil
  "Git repositories that \\[pwnm-sync-apply] puts patches in, per project.
An alist of (PROJECT . DIRECTORY), PROJECT a Patchwork project's
link_name.  A project missing here uses the repo setting of its
[project NAME] section in the config file, else it is asked for once
and remembered."
  :type '(alist :key-type (string :tag "Project")
                :value-type (directory :tag "Git repository")))

(defcustom pwnm-sync-facts-file (locate-user-emacs-file "pwnm-sync-facts.eld")
  "File remembering the projects, states and tag names the server gave.
So that `notmuch-hello' shows the Patchwork section at once, before
the server has started.  nil: remember them for this session only."
  :type '(choice (const :tag "This session only" nil) file))

(defcustom pwnm-sync-auto-sync-interval nil
  "Minutes between automatic syncs while `pwnm-sync-mode' is on, or nil."
  :type '(choice (const :tag "Never" nil) (integer :tag "Minutes")))

;; The files this one builds on (they require none above them).
(require 'pwnm-sync-rpc)
(require 'pwnm-sync-notmuch)
(require 'pwnm-sync-git)
(require 'pwnm-sync-lists)

;;; Sync

(defun pwnm-sync--summary-line (summary)
  "Return a one-line text for sync SUMMARY, a plist."
  (concat
   (mapconcat
    (lambda (p)
      (let ((parts (delq nil
                         (list (format "%d retagged" (plist-get p :retagged))
                               (format "%d pushed" (plist-get p :pushed))
                               (pwnm-sync--count p :conflicts "conflict")
                               (pwnm-sync--count p :refused "refused")
                               (pwnm-sync--count p :queued "queued")
                               (pwnm-sync--count p :ambiguous "ambiguous")
                               (and (> (length (plist-get p :errors)) 0) "failed")))))
        (format "%s: %s" (plist-get p :project) (string-join parts ", "))))
    (plist-get summary :projects) "; ")
   (format "; %.1f s" (/ (plist-get summary :durationMs) 1000.0))))

(defun pwnm-sync--count (project key word)
  "Return \"N WORD\" for the list under KEY in PROJECT, or nil when empty."
  (let ((n (length (plist-get project key))))
    (and (> n 0) (format "%d %s%s" n word (if (and (> n 1) (string= word "conflict")) "s" "")))))

(defun pwnm-sync--log-summary (summary)
  "Write the details of sync SUMMARY to the *pwnm-sync* buffer."
  (pwnm-sync--log "sync: %s" (pwnm-sync--summary-line summary))
  (seq-doseq (p (plist-get summary :projects))
    (dolist (key '(:conflicts :refused :queued :ambiguous))
      (seq-doseq (r (plist-get p key))
        (pwnm-sync--log "  %s %s %s (patch %s): %s" (plist-get p :project)
                        (substring (symbol-name key) 1) (plist-get r :msgid)
                        (plist-get r :patchId) (plist-get r :reason))))
    (seq-doseq (e (plist-get p :notes)) (pwnm-sync--log "  %s note: %s" (plist-get p :project) e))
    (seq-doseq (e (plist-get p :errors)) (pwnm-sync--log "  %s error: %s" (plist-get p :project) e))))

;;;###autoload
(defun pwnm-sync (&optional full)
  "Sync Patchwork states and notmuch tags, without blocking Emacs.
FULL non-nil re-reads everything from Patchwork (the command
`pwnm-sync-full'; a prefix argument means nothing here: it always
means the whole series).  Tags the sync changes show in the notmuch
buffers as it reports them; a sync that changed nothing changes no
buffer, and when the timer ran it, says nothing either."
  (interactive)
  (if pwnm-sync--sync-running
      (pwnm-sync--message "A sync is already running (M-x pwnm-sync-cancel to stop it)")
    (let ((automatic pwnm-sync--automatic))
      (setq pwnm-sync--sync-running t
            pwnm-sync--sync-quiet automatic)
      (unless automatic (pwnm-sync--message "Syncing%s..." (if full " everything" "")))
      (pwnm-sync--request
       :sync (list :full (if full t :json-false))
       :label "sync"
       ;; Never from the timer: auth-source may prompt.
       :needs-token (not automatic)
       ;; No client-side timeout: a first sync can take minutes.
       :timeout nil
       :success (lambda (summary)
                  (setq pwnm-sync--sync-running nil)
                  (pwnm-sync--log-summary summary)
                  (when automatic (pwnm-sync--log-read-only))
                  (pwnm-sync--refresh-facts)
                  (pwnm-sync--refresh-bundles)
                  (pwnm-sync-hello-refresh-counts)
                  (unless (and automatic (pwnm-sync--quiet-p summary))
                    (pwnm-sync--message "%s" (pwnm-sync--summary-line summary))))
       :cancelled (lambda ()
                    (setq pwnm-sync--sync-running nil)
                    (pwnm-sync--message "Sync cancelled; what was done is kept"))
       :error (lambda (err)
                (setq pwnm-sync--sync-running nil)
                (if automatic
                    ;; The server's error code, else (it did not start) the text.
                    (pwnm-sync--auto-sync-failed (or (plist-get err :code) (plist-get err :message))
                                                 (pwnm-sync--request-error-message err))
                  (pwnm-sync--error "Sync failed: %s" (pwnm-sync--request-error-message err))))))))

;;;###autoload
(defun pwnm-sync-full ()
  "Sync, re-reading everything from Patchwork, without blocking Emacs."
  (interactive)
  (pwnm-sync t))

(defun pwnm-sync--quiet-p (summary)
  "Return non-nil if sync SUMMARY changed nothing and has nothing to tell."
  (seq-every-p (lambda (p)
                 (and (zerop (plist-get p :retagged)) (zerop (plist-get p :pushed))
                      (seq-every-p (lambda (key) (zerop (length (plist-get p key))))
                                   '(:conflicts :refused :queued :ambiguous :errors))))
               (plist-get summary :projects)))

;;; The cockpit (issue 25): the Y menu, show, lists, in their own files

(declare-function pwnm-sync-transient-install "pwnm-sync-transient")
(declare-function pwnm-sync-transient-uninstall "pwnm-sync-transient")
(declare-function pwnm-sync-show-install "pwnm-sync-show")
(declare-function pwnm-sync-show-uninstall "pwnm-sync-show")

(defun pwnm-sync--cockpit-install ()
  "Turn on the parts in the other files: the menu, the facts line, the lists."
  (pwnm-sync-transient-install)
  (pwnm-sync-show-install)
  (pwnm-sync-lists-install))

(defun pwnm-sync--cockpit-uninstall ()
  "Undo `pwnm-sync--cockpit-install'."
  (when (featurep 'pwnm-sync-transient)
    (pwnm-sync-transient-uninstall)
    (pwnm-sync-show-uninstall)
    (pwnm-sync-lists-uninstall)))

;;; The minor mode

(defun pwnm-sync--current-state ()
  "Return a text naming the Patchwork state of the message at point, or nil."
  (let ((tags (ignore-errors (pwnm-sync--tags-at-point))))
    (pwnm-sync--load-facts)
    (and tags
         (let ((found (cl-loop for p in pwnm-sync--facts
                               when (member (plist-get p :tag) tags)
                               collect (format "%s: %s%s" (plist-get p :project)
                                               (or (cl-loop for s across (plist-get p :states)
                                                            when (member (plist-get s :tag) tags)
                                                            return (plist-get s :name))
                                                   "no state")
                                               (if (member (pwnm-sync--family-tag p "archived") tags) ", archived" "")))))
           (and found (string-join found "; "))))))

(defconst pwnm-sync--keys-help
  "C-u means one thing: the whole series of the patch at point (state
keys, B).  The other variants have their own keys: 1 applies the patch
alone (! its series), I re-reads the facts from Patchwork, G syncs in
full.  M-- before t (and M-x pwnm-sync-accept-from-git,
pwnm-sync-mail-fill) is a dry run.

What a key acts on: a patch, itself; a reply, the patch it answers; a
cover letter, its series (state keys, A, m, b, !; the others say
they need a patch); a thread in search, its patch, asking which when
it holds several.
"
  "What `pwnm-sync-keys' says of the prefix argument and of what keys act on.")

(defun pwnm-sync-keys ()
  "Show the keys of `pwnm-sync-state-map' and the patch's current state."
  (interactive)
  (let ((state (pwnm-sync--current-state))
        (keys (substitute-command-keys "\\{pwnm-sync-state-map}")))
    (with-help-window "*pwnm-sync keys*"
      (princ (format "Patch at point: %s\n\n" (or state "not a patch of a synced project")))
      (princ (format "Keys after %s.\n\n" (key-description pwnm-sync-key-prefix)))
      (princ pwnm-sync--keys-help)
      (princ keys))))


(autoload 'pwnm-sync-mail-thanks "pwnm-sync-mail" nil t)
(autoload 'pwnm-sync-mail-fill "pwnm-sync-mail" nil t)

(defvar pwnm-sync-state-map
  (let ((map (make-sparse-keymap)))
    (define-key map "t" #'pwnm-sync-mail-thanks)
    (define-key map "a" #'pwnm-sync-state-accepted)
    (define-key map "u" #'pwnm-sync-state-under-review)
    (define-key map "c" #'pwnm-sync-state-changes-requested)
    (define-key map "r" #'pwnm-sync-state-rejected)
    (define-key map "s" #'pwnm-sync-state-superseded)
    (define-key map "n" #'pwnm-sync-state-new)
    (define-key map "f" #'pwnm-sync-state-rfc)
    (define-key map "d" #'pwnm-sync-state-deferred)
    (define-key map "N" #'pwnm-sync-state-not-applicable)
    (define-key map "w" #'pwnm-sync-state-awaiting-upstream)
    (define-key map "Y" #'pwnm-sync-set-state)
    (define-key map "A" #'pwnm-sync-toggle-archived)
    (define-key map "m" #'pwnm-sync-delegate-to-me)
    (define-key map "i" #'pwnm-sync-patch-info)
    (define-key map "I" #'pwnm-sync-patch-info-refresh)
    (define-key map "b" #'pwnm-sync-browse)
    (define-key map "B" #'pwnm-sync-bundle-add)
    (define-key map "D" #'pwnm-sync-bundle-remove)
    (define-key map "p" #'pwnm-sync-pending)
    (define-key map "g" #'pwnm-sync)
    (define-key map "G" #'pwnm-sync-full)
    (define-key map "!" #'pwnm-sync-apply)
    (define-key map "1" #'pwnm-sync-apply-patch)
    (define-key map "k" #'pwnm-sync-cancel)
    (define-key map "?" #'pwnm-sync-keys)
    map)
  "Keys for Patchwork states, under `pwnm-sync-key-prefix'.

\\{pwnm-sync-state-map}")

(defconst pwnm-sync--mode-maps '(notmuch-show-mode-map notmuch-search-mode-map notmuch-tree-mode-map)
  "The notmuch keymaps that get the state keymap.")

(defvar pwnm-sync--timer nil
  "Timer of the automatic sync, or nil.")

;; What `pwnm-sync-mode' replaced, to put back exactly that when it is
;; turned off.
(defvar pwnm-sync--saved-bindings nil
  "Alist of (KEYMAP-SYMBOL KEY . BINDING) the mode replaced.")

(defvar pwnm-sync--saved-hello-sections nil
  "The `notmuch-hello-sections' list the mode found, or nil.")

(defvar pwnm-sync--hello-sections nil
  "The `notmuch-hello-sections' list the mode set.
To tell whether the user changed it since.")

(defvar pwnm-sync--auto-sync-errors-shown nil
  "Kinds (error symbols) of automatic sync failure already shown in the echo area.")

(defun pwnm-sync--auto-sync-failed (kind text)
  "Log that an automatic sync failed with TEXT; show it once per KIND.
KIND is an error symbol, the server's error code, or the text of
why the server did not start."
  (pwnm-sync--log "error: automatic sync failed: %s" text)
  (unless (member kind pwnm-sync--auto-sync-errors-shown)
    (push kind pwnm-sync--auto-sync-errors-shown)
    (pwnm-sync--message "Automatic sync failed: %s (see *pwnm-sync*; said once)" text)))

(defun pwnm-sync--auto-sync ()
  "Start a sync unless one is running.
A failure, in starting it or from the server, is logged in *pwnm-sync*
each time, and shown in the echo area the first time for each kind of
error."
  (unless pwnm-sync--sync-running
    (condition-case err
        (let ((pwnm-sync--automatic t))
          (pwnm-sync))
      (error (pwnm-sync--auto-sync-failed (car err) (pwnm-sync--request-error-message err))))))

(defun pwnm-sync--with-hello-section (sections)
  "Return a copy of SECTIONS that has the Patchwork section too.
It goes after `notmuch-hello-insert-saved-searches', else last."
  (let ((tail (memq #'notmuch-hello-insert-saved-searches sections)))
    (if tail
        (append (butlast sections (1- (length tail)))
                (list #'pwnm-sync-hello-insert)
                (cdr tail))
      (append sections (list #'pwnm-sync-hello-insert)))))

(defun pwnm-sync--kill-emacs ()
  "Tell the server Emacs exits, and let nothing start another.
In `kill-emacs-hook'.  Waits for nothing: closing the server's input
is `shutdown' and `exit' to it, and it finishes alone.  A wait here
runs timers and filters while Emacs is half gone (after SIGHUP, that
kept Emacs from exiting)."
  (setq pwnm-sync--exiting t)
  (dolist (timer (list pwnm-sync--timer pwnm-sync--refresh-timer))
    (when (timerp timer) (cancel-timer timer)))
  (let ((conn pwnm-sync--connection))
    (setq pwnm-sync--connection nil)
    (when conn
      (let ((proc (pwnm-sync--server-process conn)))
        (when (process-live-p proc) (ignore-errors (process-send-eof proc)))))))

(defun pwnm-sync--install ()
  "Bind the state keymap, add the hooks and the `notmuch-hello' section."
  (setq pwnm-sync--saved-bindings nil)
  (dolist (map pwnm-sync--mode-maps)
    (push (cons map (cons pwnm-sync-key-prefix (lookup-key (symbol-value map) pwnm-sync-key-prefix)))
          pwnm-sync--saved-bindings)
    (define-key (symbol-value map) pwnm-sync-key-prefix pwnm-sync-state-map))
  (pwnm-sync--cockpit-install)
  (add-hook 'notmuch-after-tag-hook #'pwnm-sync--after-tag)
  (add-hook 'kill-emacs-hook #'pwnm-sync--kill-emacs)
  (add-hook 'window-buffer-change-functions #'pwnm-sync--on-window-change)
  (unless (memq #'pwnm-sync-hello-insert notmuch-hello-sections)
    (setq pwnm-sync--saved-hello-sections notmuch-hello-sections
          notmuch-hello-sections (pwnm-sync--with-hello-section notmuch-hello-sections)
          pwnm-sync--hello-sections notmuch-hello-sections))
  (when pwnm-sync-auto-sync-interval
    (setq pwnm-sync--timer (run-with-timer (* 60 pwnm-sync-auto-sync-interval)
                                           (* 60 pwnm-sync-auto-sync-interval)
                                           #'pwnm-sync--auto-sync))))

(defun pwnm-sync--uninstall ()
  "Put back what `pwnm-sync--install' replaced."
  (when pwnm-sync--timer
    (cancel-timer pwnm-sync--timer)
    (setq pwnm-sync--timer nil))
  (pwnm-sync--cockpit-uninstall)
  (pcase-dolist (`(,map ,key . ,binding) pwnm-sync--saved-bindings)
    ;; Only our own binding is taken back: one the user made since stays.
    (when (eq (lookup-key (symbol-value map) key) pwnm-sync-state-map)
      (define-key (symbol-value map) key binding)))
  (setq pwnm-sync--saved-bindings nil)
  (remove-hook 'notmuch-after-tag-hook #'pwnm-sync--after-tag)
  (remove-hook 'kill-emacs-hook #'pwnm-sync--kill-emacs)
  (remove-hook 'window-buffer-change-functions #'pwnm-sync--on-window-change)
  (when pwnm-sync--refresh-timer
    (cancel-timer pwnm-sync--refresh-timer)
    (setq pwnm-sync--refresh-timer nil))
  (setq pwnm-sync--stale nil)
  (setq notmuch-hello-sections
        (if (and pwnm-sync--hello-sections (eq notmuch-hello-sections pwnm-sync--hello-sections))
            pwnm-sync--saved-hello-sections
          ;; Changed since: remove only our entry, copying rather than editing the list.
          (remq #'pwnm-sync-hello-insert notmuch-hello-sections)))
  (setq pwnm-sync--saved-hello-sections nil
        pwnm-sync--hello-sections nil))

;;;###autoload
(define-minor-mode pwnm-sync-mode
  "Patchwork states in notmuch-emacs.
Adds the Patchwork section to `notmuch-hello', the state keymap on
`pwnm-sync-key-prefix' in notmuch show, search and tree buffers, and
pushes state-tag changes made in Emacs to Patchwork.  Turned off, it
puts back what those keys were bound to and the sections as they were,
stops the automatic sync and the server (what it was doing stops as
\\[pwnm-sync-cancel] stops it), so that nothing retags or pushes any
more.  A command run afterwards starts the server again.

\\{pwnm-sync-state-map}"
  :global t
  :group 'pwnm-sync
  (pwnm-sync--uninstall)
  (if pwnm-sync-mode
      (pwnm-sync--install)
    (pwnm-sync-shutdown)))

(provide 'pwnm-sync)

;; The files that build on this one (after `provide': they require it).
(cl-eval-when (load eval)
  (require 'pwnm-sync-show)
  (require 'pwnm-sync-transient))
;;; pwnm-sync.el ends here
