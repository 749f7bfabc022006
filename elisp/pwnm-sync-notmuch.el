;;; pwnm-sync-notmuch.el --- Patchwork states as notmuch tags, for pwnm-sync  -*- lexical-binding: t; -*-

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

;; What pwnm-sync does to notmuch: showing the tags a sync changed,
;; the state changes (one command per state), archive and
;; delegation, and the Patchwork section of `notmuch-hello'.

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'subr-x)
(require 'notmuch)
(require 'notmuch-hello)
(require 'notmuch-show)
(require 'notmuch-tree)
(require 'notmuch-tag)
(require 'pwnm-sync-rpc)

;; Defined in pwnm-sync.el and pwnm-sync-lists.el, which load this file.
(defvar pwnm-sync-hello-states)
(defvar pwnm-sync-mode)
(declare-function pwnm-sync--hello-bundle-searches "pwnm-sync-lists")
(declare-function pwnm-sync-hello-insert-status "pwnm-sync-lists")
(declare-function pwnm-sync-hello-query "pwnm-sync-lists")

;;; Showing changed tags
;;
;; A notification only notes what is out of date; the buffers are
;; redrawn from a timer, and only those on screen.  A hidden buffer
;; waits until a window shows it (`window-buffer-change-functions').
;; So a series change of twelve patches, which sends twelve
;; notifications, redraws notmuch-hello once, and not at all while it
;; is hidden; nothing slow runs in the process filter.

(defconst pwnm-sync--refresh-delay 0.3
  "Seconds without news before the stale buffers on screen are redrawn.")

(defvar pwnm-sync--stale nil
  "The buffers whose display is out of date, an alist (BUFFER . IDS).
IDS are the bare Message-Ids whose tags changed, or t: redraw all.")

(defvar pwnm-sync--refresh-timer nil
  "Timer of the next redraw of the stale buffers on screen, or nil.")

(defun pwnm-sync--mark-stale (buffer ids)
  "Note that BUFFER must show the new tags of IDS (t: everything).
Redraw it soon if it is on screen, else when it is next shown."
  (let ((cell (assq buffer pwnm-sync--stale)))
    (cond ((null cell) (push (cons buffer ids) pwnm-sync--stale))
          ((or (eq ids t) (eq (cdr cell) t)) (setcdr cell t))
          (t (setcdr cell (cl-union ids (cdr cell) :test #'equal)))))
  (pwnm-sync--schedule-refresh pwnm-sync--refresh-delay))

(defun pwnm-sync--schedule-refresh (delay)
  "Redraw the stale buffers on screen after DELAY seconds.
Each call starts the wait again: news arriving in a burst is shown
once, after the last of it."
  (when (timerp pwnm-sync--refresh-timer) (cancel-timer pwnm-sync--refresh-timer))
  (setq pwnm-sync--refresh-timer (run-with-timer delay nil #'pwnm-sync--refresh-visible)))

(defun pwnm-sync--hello-buffer-p (buffer)
  "Return non-nil if BUFFER is a `notmuch-hello' buffer."
  (eq (buffer-local-value 'major-mode buffer) 'notmuch-hello-mode))

(defun pwnm-sync--series-running-p ()
  "Return non-nil while the server is setting the patches of a series.
Each patch it sets sends news; hello waits for the last one."
  (cl-loop for entry being the hash-values of pwnm-sync--requests
           thereis (and (equal (plist-get entry :label) "series change")
                        (let ((conn (plist-get entry :connection)))
                          (and conn (jsonrpc-running-p conn))))))

(defun pwnm-sync--refresh-visible ()
  "Redraw the stale buffers on screen; the others wait to be shown.
While a series change runs, hello waits for its end (it is retried
from a timer, which stops when the request ends, however it ends)."
  (setq pwnm-sync--refresh-timer nil)
  (let ((hold-hello (pwnm-sync--series-running-p))
        (held nil))
    (dolist (cell (copy-sequence pwnm-sync--stale))
      (let ((buffer (car cell)))
        (cond ((not (buffer-live-p buffer))
               (setq pwnm-sync--stale (delq cell pwnm-sync--stale)))
              ((not (get-buffer-window buffer 'visible)))
              ((and hold-hello (pwnm-sync--hello-buffer-p buffer)) (setq held t))
              (t (setq pwnm-sync--stale (delq cell pwnm-sync--stale))
                 (with-demoted-errors "pwnm-sync: redrawing a buffer: %S"
                   (pwnm-sync--refresh-buffer buffer (cdr cell)))))))
    (when held (pwnm-sync--schedule-refresh pwnm-sync--refresh-delay))))

(defun pwnm-sync--on-window-change (_frame)
  "Redraw, from a timer, the stale buffers now on screen.
In `window-buffer-change-functions'."
  (when (seq-some (lambda (cell) (and (buffer-live-p (car cell)) (get-buffer-window (car cell) 'visible)))
                  pwnm-sync--stale)
    (pwnm-sync--schedule-refresh 0)))

(defun pwnm-sync--refresh-buffer (buffer ids)
  "Show in BUFFER the tags notmuch has now for IDS (t: redraw it all).
As notmuch-emacs's own tagging does: the message's tag line in show,
the message's or thread's line in tree and search; nothing else moves.
hello is redrawn in full."
  (with-current-buffer buffer
    (cond ((derived-mode-p 'notmuch-hello-mode) (notmuch-hello-update))
          ((eq ids t) (notmuch-refresh-this-buffer))
          (t (let* ((thread-ids nil)
                    (threads (lambda ()
                               (or thread-ids
                                   (setq thread-ids
                                         (mapcar (lambda (th) (string-remove-prefix "thread:" th))
                                                 (notmuch-call-notmuch-sexp
                                                  "search" "--output=threads" "--format=sexp"
                                                  (mapconcat #'notmuch-id-to-query ids " or ")))))))
                    (hits (pwnm-sync--shown ids threads)))
               (when hits (pwnm-sync--retag-buffer buffer hits)))))))

(defun pwnm-sync--notmuch-buffers ()
  "Return the notmuch show, tree and search buffers."
  (seq-filter (lambda (buffer)
                (memq (buffer-local-value 'major-mode buffer)
                      '(notmuch-show-mode notmuch-tree-mode notmuch-search-mode)))
              (buffer-list)))

(defun pwnm-sync--refresh-buffers ()
  "Redraw `notmuch-hello' and the other notmuch buffers, when shown.
For when too many messages changed to name them."
  (dolist (buffer (pwnm-sync--notmuch-buffers)) (pwnm-sync--mark-stale buffer t))
  (pwnm-sync--refresh-hello))

(defun pwnm-sync--refresh-hello ()
  "Redraw `notmuch-hello' soon if it is on screen, else when it is next shown."
  (let ((hello (get-buffer "*notmuch-hello*")))
    (when (and (buffer-live-p hello) (pwnm-sync--hello-buffer-p hello))
      (pwnm-sync--mark-stale hello t))))

(defun pwnm-sync--tags-of (search)
  "Return the tags of the messages matching SEARCH, from notmuch."
  (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp" search))

(defun pwnm-sync--shown (ids threads)
  "Return where the current buffer displays one of the messages IDS.
A list of (POSITION . SEARCH): SEARCH gives the tags to show there, the
message's in show and tree buffers, the thread's (one of THREADS, a
function returning the thread ids of IDS) in search buffers."
  (let ((hits nil))
    (save-excursion
      (pcase major-mode
        ('notmuch-show-mode
         (notmuch-show-mapc (lambda ()
                              (let ((id (notmuch-show-get-message-id t)))
                                (when (member id ids)
                                  (push (cons (point) (notmuch-id-to-query id)) hits))))))
        ('notmuch-tree-mode
         (goto-char (point-min))
         (while (not (eobp))
           (let ((id (notmuch-tree-get-message-id t)))
             (when (member id ids)
               (push (cons (point) (notmuch-id-to-query id)) hits)))
           (forward-line 1)))
        ('notmuch-search-mode
         (let ((wanted (funcall threads)))
           (notmuch-search-foreach-result (point-min) (point-max)
             (lambda (pos)
               (let ((thread (plist-get (notmuch-search-get-result pos) :thread)))
                 (when (member thread wanted)
                   (push (cons pos (concat "thread:" thread)) hits)))))))))
    (nreverse hits)))

(defun pwnm-sync--retag-buffer (buffer hits)
  "Show in BUFFER the tags notmuch has now, at HITS (see `pwnm-sync--shown').
As notmuch-emacs's own tagging does: the message's tag line in show,
the message's or thread's line in tree and search; nothing else moves."
  (with-current-buffer buffer
    (save-excursion
      ;; Last first: a new tag line changes the length of the text before
      ;; the positions after it, which would then point into another message.
      (pcase-dolist (`(,pos . ,where) (sort (copy-sequence hits) (lambda (a b) (> (car a) (car b)))))
        (goto-char pos)
        (let ((tags (pwnm-sync--tags-of where)))
          (pcase major-mode
            ('notmuch-show-mode
             ;; Also the tags to compare with: no struck-through old state.
             (notmuch-show-set-prop :orig-tags tags)
             (notmuch-show-set-tags tags))
            ('notmuch-tree-mode
             (notmuch-tree-set-tags tags)
             (notmuch-tree-refresh-result))
            ('notmuch-search-mode
             (notmuch-search-set-tags tags pos))))))))

(defun pwnm-sync--tags-changed (ids)
  "Note in every notmuch buffer and hello that the messages IDS changed.
IDS are bare Message-Ids.
Those on screen are redrawn in a moment, the others when next shown."
  (when ids
    (dolist (buffer (pwnm-sync--notmuch-buffers)) (pwnm-sync--mark-stale buffer ids))
    (pwnm-sync--refresh-hello)))

;;; State changes

(defun pwnm-sync--projects ()
  "Return the configured projects, plists with :project, :tag, :states, :tags.
As the server last described them (see `pwnm-sync-facts-file'); never
waits for it.  Before it ever answered, start it and say to try again."
  (pwnm-sync--load-facts)
  (or pwnm-sync--facts
      (let ((failure pwnm-sync--start-failure))
        ;; A command tries again, even after a failure: it may be fixed.
        (pwnm-sync--with-connection #'ignore #'ignore)
        (if failure
            (user-error "The pwnm-sync server did not start: %s (M-x pwnm-sync-events)" failure)
          (user-error "The pwnm-sync server is starting; try again in a moment")))))

(defun pwnm-sync--state-tags (project)
  "Return PROJECT's state tags, an alist of (SLUG . TAG)."
  (cl-loop for s across (plist-get project :states)
           collect (cons (plist-get s :slug) (plist-get s :tag))))

(defun pwnm-sync--family-tag (project name)
  "Return the tag the server names for family NAME of PROJECT, or nil.
NAME is \"archived\", \"delegated\" or \"check-STATE\"."
  (let ((tags (plist-get project :tags)))
    (if (string-prefix-p "check-" name)
        (plist-get (plist-get tags :checks) (intern (concat ":" (substring name 6))))
      (plist-get tags (intern (concat ":" name))))))

(defun pwnm-sync--tag-changes (project state present)
  "Return what to add and remove to move a message of PROJECT to STATE.
PRESENT is the tags the message(s) have now.  Only those of them that
are state tags are removed, and the new one is added only when missing:
notmuch keeps this list for `notmuch-tag-undo', which reverses it, and
removing absent tags would make undo add them all."
  (let* ((tags (pwnm-sync--state-tags project))
         (new (cdr (assoc state tags))))
    (unless new
      (user-error "The server knows no state %s in %s" state (plist-get project :project)))
    (append (unless (member new present) (list (concat "+" new)))
            (cl-loop for (_slug . tag) in tags
                     unless (or (string= tag new) (not (member tag present)))
                     collect (concat "-" tag)))))

(defun pwnm-sync--tags-at-point ()
  "Return the tags of the message or thread at point."
  (pcase major-mode
    ('notmuch-show-mode (notmuch-show-get-tags))
    ('notmuch-tree-mode (notmuch-tree-get-tags))
    ('notmuch-search-mode (if (use-region-p)
                              (notmuch-search-get-tags-region (region-beginning) (region-end))
                            (notmuch-search-get-tags)))
    (_ (user-error "Not in a notmuch show, tree or search buffer"))))

(defun pwnm-sync--read-project (tags)
  "Return the projects (plists) the message with TAGS is in, asking if several."
  (let* ((projects (cl-remove-if-not (lambda (p) (member (plist-get p :tag) tags)) (pwnm-sync--projects)))
         (names (mapcar (lambda (p) (plist-get p :project)) projects)))
    (cond ((null projects) (user-error "Not a patch of a synced Patchwork project (no pw- project tag)"))
          ((null (cdr projects)) projects)
          (t (let ((choice (completing-read "Project: " (cons "all" names) nil t)))
               (if (string= choice "all") projects
                 (list (nth (cl-position choice names :test #'string=) projects))))))))

(defun pwnm-sync--read-state (projects)
  "Ask for a state of PROJECTS with completion."
  (completing-read "Patchwork state: "
                   (delete-dups (cl-loop for p in projects
                                         append (mapcar #'car (pwnm-sync--state-tags p))))
                   nil t))

(defun pwnm-sync--goto-patch-ancestor ()
  "In show, move to the patch the message at point belongs to.
That is the message itself when it is a patch, else its nearest
ancestor in the thread that is one (a review reply's patch).  Return
non-nil when there is one; else leave point where it was."
  (let ((start (point))
        (depth (notmuch-show-get-depth)))
    (notmuch-show-message-top)
    (or (catch 'found
          ;; Each step goes up one level: the message before this one
          ;; in the buffer with a smaller depth is its parent.
          (while t
            (when (member "patchwork" (notmuch-show-get-tags)) (throw 'found t))
            (when (zerop depth) (throw 'found nil))
            (while (and (notmuch-show-goto-message-previous)
                        (>= (notmuch-show-get-depth) depth)))
            (if (< (notmuch-show-get-depth) depth)
                (setq depth (notmuch-show-get-depth))
              (throw 'found nil))))
        (progn (goto-char start) nil))))

(defun pwnm-sync--cover-letter-p ()
  "Return non-nil if point is on a message in show that is not a patch.
Nor a reply to one: a cover letter, or a reply to it.  The state keys
then act on the cover letter's series, as Patchwork files it."
  (and (eq major-mode 'notmuch-show-mode)
       (not (save-excursion (pwnm-sync--goto-patch-ancestor)))))

(defun pwnm-sync--thread-query ()
  "Return a query for the thread of the message at point in show."
  (format "thread:{%s}" (notmuch-show-get-message-id)))

(defun pwnm-sync--thread-tags ()
  "Return the tags of all messages of the thread at point in show."
  (notmuch-call-notmuch-sexp "search" "--output=tags" "--format=sexp" (pwnm-sync--thread-query)))

(defun pwnm-sync-set-state (state &optional projects series)
  "Set the Patchwork STATE of the patch at point.
In show and tree buffers that is the message at point when it is a
patch; on a reply, the patch it replies to (its nearest patch ancestor
in the thread), named in the echo area; on a cover letter, the patches
Patchwork files under its series.  In search buffers the patch of the
thread at point (asking which when the thread holds several), or of
the threads of the region.  PROJECTS limits the change to those
projects (plists); nil asks when the message is in several.  A change
of one patch goes through `notmuch-tag' (so `notmuch-after-tag-hook'
runs, and `notmuch-tag-undo' reverses it), and that hook pushes it to
Patchwork.

With SERIES (interactively, a prefix argument), and always on a cover
letter, the server sets every patch of the series: it sets each on
Patchwork first and then writes its tags itself, so
`notmuch-after-tag-hook' does NOT run for them.  When that is more
than one patch, the count and subjects are shown and you are asked
first (see `pwnm-sync-confirm-several').  Each patch's outcome shows in
the echo area and in *pwnm-sync* as Patchwork confirms it (\"Series:
3/12 accepted\"); nothing waits: \[pwnm-sync-cancel] stops what is left
on the server."
  (interactive (let ((projects (pwnm-sync--patch-projects-at-point)))
                 (list (pwnm-sync--read-state projects)
                       (unless (pwnm-sync--cover-letter-p) projects)
                       current-prefix-arg)))
  (cond
   ((or series (pwnm-sync--cover-letter-p))
    (pwnm-sync--set-series-state state (pwnm-sync--patch-id-at-point)))
   ((eq major-mode 'notmuch-show-mode)
    (save-excursion
      (pwnm-sync--goto-patch-ancestor)
      (dolist (project (or projects (pwnm-sync--read-project (notmuch-show-get-tags))))
        (notmuch-show-tag (pwnm-sync--tag-changes project state (notmuch-show-get-tags)))
        (pwnm-sync--show-settle-tags))
      (pwnm-sync--message "%s -> %s" (notmuch-show-get-subject) state)))
   ((eq major-mode 'notmuch-tree-mode)
    (dolist (project (or projects (pwnm-sync--read-project (notmuch-tree-get-tags))))
      (notmuch-tree-tag (pwnm-sync--tag-changes project state (notmuch-tree-get-tags)))))
   ((use-region-p)
    (let ((threads (notmuch-search-find-stable-query-region (region-beginning) (region-end))))
      (pwnm-sync--confirm-several
       (pwnm-sync--call-sexp "search" "--output=summary" "--format=sexp"
                             (format "(%s) and tag:patchwork" threads))
       state)
      (dolist (project (or projects (pwnm-sync--read-project (pwnm-sync--tags-at-point))))
        (notmuch-tag (format "(%s) and tag:%s" threads (plist-get project :tag))
                     (pwnm-sync--tag-changes project state (pwnm-sync--tags-at-point))))
      (notmuch-refresh-this-buffer)))
   (t
    (let ((id (pwnm-sync--patch-id-at-point)))
      (dolist (project (or projects (pwnm-sync--read-project (pwnm-sync--message-tags id))))
        (notmuch-tag (notmuch-id-to-query id)
                     (pwnm-sync--tag-changes project state (pwnm-sync--message-tags id))))
      (notmuch-refresh-this-buffer)))))

(defun pwnm-sync--call-sexp (&rest args)
  "Run notmuch with ARGS and return its sexp output."
  (apply #'notmuch-call-notmuch-sexp args))

(defun pwnm-sync--subject (id)
  "Return the subject of the message with bare Message-Id ID."
  (plist-get (car (pwnm-sync--call-sexp "search" "--output=summary" "--format=sexp" (notmuch-id-to-query id)))
             :subject))

(defun pwnm-sync--message-tags (id)
  "Return the tags of the message with bare Message-Id ID."
  (pwnm-sync--call-sexp "search" "--output=tags" "--format=sexp" (notmuch-id-to-query id)))

(defun pwnm-sync--patch-tags-at-point ()
  "Return the tags of the patch the state keys act on at point."
  (pcase major-mode
    ('notmuch-show-mode (save-excursion (pwnm-sync--goto-patch-ancestor)
                                        (notmuch-show-get-tags)))
    ('notmuch-search-mode (if (use-region-p) (pwnm-sync--tags-at-point)
                            (pwnm-sync--message-tags (pwnm-sync--patch-id-at-point))))
    (_ (pwnm-sync--tags-at-point))))

(defun pwnm-sync--patch-projects-at-point ()
  "Return the projects whose states a state key at point may set.
The projects of the patch the key acts on (asking when several), or
on a cover letter every project: the server knows which is its own."
  (if (pwnm-sync--cover-letter-p)
      (pwnm-sync--projects)
    (pwnm-sync--read-project (pwnm-sync--patch-tags-at-point))))

(defun pwnm-sync--patch-message-id-at-point (key)
  "Return the bare Message-Id of the one patch KEY acts on at point.
The patch itself, on a reply the patch it answers, in search the
thread's patch (asking which when several).  A cover letter is no
patch: say so, naming KEY."
  (when (pwnm-sync--cover-letter-p)
    (user-error "%s acts on one patch, and a cover letter is none: press it on a patch of the series" key))
  (pwnm-sync--patch-id-at-point))

(defun pwnm-sync--message-id-at-point ()
  "Return the bare Message-Id at point, or signal a user error."
  (or (pcase major-mode
        ('notmuch-show-mode (notmuch-show-get-message-id t))
        ('notmuch-tree-mode (notmuch-tree-get-message-id t))
        ('notmuch-search-mode
         (let ((ids (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                                               (format "(%s) and tag:patchwork" (notmuch-search-find-thread-id)))))
           (car ids))))
      (user-error "No patch message at point")))

(defun pwnm-sync--target-id-at-point ()
  "Return the Message-Id a command acts on at point.
A cover letter's own (the server then acts on its series), else the
patch the state keys act on: on a reply, the patch it answers."
  (if (pwnm-sync--cover-letter-p)
      (notmuch-show-get-message-id t)
    (pwnm-sync--patch-id-at-point)))

(defun pwnm-sync--patch-id-at-point ()
  "Return the bare Message-Id of the patch at point.
In show, the patch a reply belongs to, or the cover letter itself (the
server then acts on its series).  In search, the thread's patch,
asking which when the thread holds several."
  (pcase major-mode
    ('notmuch-show-mode (save-excursion (pwnm-sync--goto-patch-ancestor)
                                        (notmuch-show-get-message-id t)))
    ('notmuch-search-mode
     (let ((ids (pwnm-sync--call-sexp "search" "--output=messages" "--format=sexp"
                                      (format "(%s) and tag:patchwork" (notmuch-search-find-thread-id)))))
       (cond ((null ids) (user-error "No patch in this thread"))
             ((null (cdr ids)) (car ids))
             (t (let* ((subjects (mapcar (lambda (id) (cons (pwnm-sync--subject id) id)) ids))
                       (choice (completing-read "Which patch: " subjects nil t)))
                  (cdr (assoc choice subjects)))))))
    (_ (pwnm-sync--message-id-at-point))))

(defcustom pwnm-sync-confirm-several t
  "Non-nil: ask before a state change of more than one patch.
The question lists how many and their subjects."
  :type 'boolean
  :group 'pwnm-sync)

(defun pwnm-sync--confirm-several (subjects state &optional question)
  "Ask before setting STATE on the patches with SUBJECTS, when several.
SUBJECTS is a list of strings, or of notmuch search summaries.
QUESTION, a format with %d for the count, replaces \"Set these %d
patches to STATE\".  Signal a `user-error' when the answer is no."
  (let* ((subjects (mapcar (lambda (s) (if (stringp s) s (plist-get s :subject))) subjects))
         (prompt (format "%s\n%s? "
                         (mapconcat (lambda (s) (concat "  " s)) subjects "\n")
                         (format (or question (format "Set these %%d patches to %s" state))
                                 (length subjects)))))
    (when (and pwnm-sync-confirm-several (cdr subjects)
               (not (y-or-n-p prompt)))
      (user-error "Nothing changed"))))

(defun pwnm-sync--show-settle-tags ()
  "Show the tags of the message at point as they are now.
`notmuch-show' keeps removed tags on display, struck through, until a
refresh; on a terminal that looks like the old state is still there
next to the new one.  A state change replaces the old state, so show
only the tags the message has."
  (let ((tags (notmuch-show-get-tags)))
    (notmuch-show-set-prop :orig-tags tags)
    (notmuch-show-update-tags tags)))

(defun pwnm-sync--set-series-state (state message-id)
  "Set STATE for every patch of the series of MESSAGE-ID, on the server.
MESSAGE-ID may be a cover letter's.  The server first says which
patches that is; when several, ask (see `pwnm-sync-confirm-several').
Return at once; see `pwnm-sync-set-state' for what follows."
  (let ((params (list :messageIds (vector message-id) :state state :series t)))
    (pwnm-sync--request
     :setState (append params '(:dryRun t))
     :label "series change"
     :success (lambda (result)
                (let ((patches (append (plist-get result :patches) nil)))
                  (condition-case err
                      (progn
                        (pwnm-sync--confirm-several
                         (mapcar (lambda (p) (or (plist-get p :name) (plist-get p :msgid))) patches)
                         state)
                        (pwnm-sync--message "Series: setting %d patch(es) to %s..." (length patches) state)
                        (pwnm-sync--request
                         :setState params
                         :label "series change"
                         :needs-token t
                         :success (lambda (result)
                                    (let* ((outcomes (seq-group-by (lambda (r) (plist-get r :outcome))
                                                                   (plist-get result :results)))
                                           (text (mapconcat (lambda (g) (format "%d %s" (length (cdr g)) (car g)))
                                                            outcomes ", ")))
                                      (pwnm-sync--log "series %s: %s" state text)
                                      (pwnm-sync--message "Series: %s" text)))))
                    ((user-error quit) (pwnm-sync--message "Series: %s" (if (eq (car err) 'quit) "Nothing changed" (cadr err))))))))))

(defun pwnm-sync--with-series-patches (message-id label then)
  "Call THEN with the patches of MESSAGE-ID's series, as the server lists them.
MESSAGE-ID may be a cover letter's: the server finds the series
Patchwork files it under.  The list comes from `setState''s dry run
\(which changes nothing and reads no state): plists with :msgid :name
:project :patchId.  LABEL names the request.  THEN runs from the
server's answer; a `user-error' or quit in it (a question answered
no) is said in the echo area."
  (pwnm-sync--request
   :setState (list :messageIds (vector message-id) :state "" :series t :dryRun t)
   :label label
   :success (lambda (result)
              (let ((patches (append (plist-get result :patches) nil)))
                (condition-case err
                    (if patches (funcall then patches)
                      (user-error "Patchwork files no patch under %s" message-id))
                  ((user-error quit)
                   (pwnm-sync--message "%s: %s" label (if (eq (car err) 'quit) "Nothing changed" (cadr err)))))))))

(defun pwnm-sync--patch-names (patches)
  "Return the names of PATCHES, plists of a series listing, for a question."
  (mapcar (lambda (p) (or (plist-get p :name) (plist-get p :msgid))) patches))

(defun pwnm-sync--series-query (patches)
  "Return a notmuch query for the messages of PATCHES, plists with :msgid."
  (mapconcat (lambda (p) (notmuch-id-to-query (plist-get p :msgid))) patches " or "))

(defmacro pwnm-sync--define-state-command (state)
  "Define `pwnm-sync-state-STATE', a command setting STATE."
  (let ((name (intern (format "pwnm-sync-state-%s" state))))
    `(defun ,name (&optional series)
       ,(format "Set the Patchwork state of the patch at point to %s.
With SERIES (interactively, a prefix argument), of its whole series." state)
       (interactive "P")
       (pwnm-sync-set-state ,state nil series))))

(pwnm-sync--define-state-command "new")
(pwnm-sync--define-state-command "under-review")
(pwnm-sync--define-state-command "accepted")
(pwnm-sync--define-state-command "rejected")
(pwnm-sync--define-state-command "rfc")
(pwnm-sync--define-state-command "not-applicable")
(pwnm-sync--define-state-command "changes-requested")
(pwnm-sync--define-state-command "awaiting-upstream")
(pwnm-sync--define-state-command "superseded")
(pwnm-sync--define-state-command "deferred")

(defun pwnm-sync--state-tag-change-p (change-list)
  "Return non-nil if a project's state or archived tag is in CHANGE-LIST.
Before the server ever described its projects, nil: such a change
goes with the next sync."
  (pwnm-sync--load-facts)
  (and pwnm-sync--facts
       (let ((tags (cl-loop for p in pwnm-sync--facts
                            append (cons (pwnm-sync--family-tag p "archived")
                                         (mapcar #'cdr (pwnm-sync--state-tags p)))))
             (prefixes (mapcar (lambda (p) (concat (plist-get p :tag) "-")) pwnm-sync--facts)))
         (cl-some (lambda (change)
                    (let ((tag (substring change 1)))
                      (or (member tag tags)
                          (and (string-prefix-p "+" change)
                               (cl-some (lambda (prefix) (string-prefix-p prefix tag)) prefixes)))))
                  change-list))))

(defun pwnm-sync--after-tag ()
  "Push to Patchwork what was done to state tags in Emacs.
Run from `notmuch-after-tag-hook', which binds `query' and
`tag-changes' dynamically."
  (let ((changes (with-suppressed-warnings ((lexical tag-changes))
                   (and (boundp 'tag-changes) (symbol-value 'tag-changes))))
        (tagged (with-suppressed-warnings ((lexical query))
                  (and (boundp 'query) (symbol-value 'query)))))
    (when (and pwnm-sync-mode tagged (pwnm-sync--state-tag-change-p changes))
      (pwnm-sync-push tagged))))

(defun pwnm-sync-push (terms)
  "Push now what was done to the state tags of the messages matching TERMS."
  (interactive (list (read-string "Push messages matching: ")))
  (pwnm-sync--request
   :push (list :query (format "(%s) and tag:patchwork" terms))
   :label "push"
   :needs-token t
   :success (lambda (result) (pwnm-sync--report-push (plist-get result :results)))))

(defun pwnm-sync--report-push (results)
  "Say in the echo area what happened to the pushes in RESULTS."
  (let ((texts nil))
    (seq-doseq (r results)
      (let ((outcome (plist-get r :outcome)))
        (unless (string= outcome "nothing")
          (pwnm-sync--log "push %s %s: %s %s" (plist-get r :project) (plist-get r :messageId)
                          outcome (or (plist-get r :reason) (plist-get r :state) ""))
          (push (pcase outcome
                  ("pushed" (format "%s: %s" (plist-get r :project) (plist-get r :state)))
                  ("queued" (format "queued (%s), will go with the next sync" (plist-get r :reason)))
                  ("refused" (format "refused: %s" (plist-get r :reason)))
                  (_ (format "%s: %s" outcome (plist-get r :reason))))
                texts))))
    (when texts
      (pwnm-sync--message "%s" (string-join (delete-dups (nreverse texts)) "; ")))))

;;; Archive and delegation

(defun pwnm-sync-toggle-archived ()
  "Archive the patch at point on Patchwork, or unarchive it if archived.
On a cover letter, the patches of its series (the server lists them),
after asking when several: all unarchived when all are archived, else
the others archived.  The archived tag changes through `notmuch-tag';
the after-tag hook pushes it."
  (interactive)
  (if (pwnm-sync--cover-letter-p)
      (pwnm-sync--toggle-series-archived (notmuch-show-get-message-id t))
    (pwnm-sync--toggle-archived-at-point)))

(defun pwnm-sync--toggle-series-archived (message-id)
  "Archive the series of MESSAGE-ID, or unarchive it when all is archived."
  (pwnm-sync--with-series-patches
   message-id "archive"
   (lambda (patches)
     (let* ((name (plist-get (car patches) :project))
            (project (or (seq-find (lambda (p) (equal (plist-get p :project) name)) (pwnm-sync--projects))
                         (user-error "Not a synced project: %s" name)))
            (tag (or (pwnm-sync--family-tag project "archived")
                     (user-error "The server has not named the archived tag of %s" name)))
            (query (pwnm-sync--series-query patches))
            (archived (pwnm-sync--call-sexp "search" "--output=messages" "--format=sexp"
                                            (format "(%s) and tag:%s" query tag)))
            (all (= (length archived) (length patches))))
       (pwnm-sync--confirm-several (pwnm-sync--patch-names patches) nil
                                   (if all "Unarchive these %d patches" "Archive these %d patches"))
       ;; Only the messages that change, named by id: the after-tag hook
       ;; pushes what the query matches after the change.
       (let ((changing (if all archived
                         (seq-remove (lambda (id) (member id archived))
                                     (mapcar (lambda (p) (plist-get p :msgid)) patches)))))
         (notmuch-tag (mapconcat #'notmuch-id-to-query changing " or ")
                      (list (concat (if all "-" "+") tag)))
         (pwnm-sync--message "Series: %d patch(es) %s" (length changing) (if all "unarchived" "archived")))))))

(defun pwnm-sync--toggle-archived-at-point ()
  "Archive the patch at point, or unarchive it (see `pwnm-sync-toggle-archived').
In show, on a reply, the patch it answers."
  (save-excursion
    (when (eq major-mode 'notmuch-show-mode) (pwnm-sync--goto-patch-ancestor))
    (pwnm-sync--toggle-archived-here)))

(defun pwnm-sync--toggle-archived-here ()
  "Archive the message at point, or unarchive it."
  (let* ((tags (pwnm-sync--tags-at-point))
         (project (car (pwnm-sync--read-project tags)))
         (tag (or (pwnm-sync--family-tag project "archived")
                  ;; Facts remembered from a server that did not name it yet.
                  (progn (pwnm-sync--with-connection #'ignore #'ignore)
                         (user-error "The server has not named the archived tag yet; try again in a moment"))))
         (changes (list (concat (if (member tag tags) "-" "+") tag))))
    (pcase major-mode
      ('notmuch-show-mode (notmuch-show-tag changes))
      ('notmuch-tree-mode (notmuch-tree-tag changes))
      (_ (notmuch-tag (format "(%s) and tag:%s" (notmuch-search-find-stable-query-region (point) (point))
                              (plist-get project :tag))
                      changes)
         (notmuch-refresh-this-buffer)))))

(defun pwnm-sync-delegate-to-me (message-id)
  "Delegate the patch MESSAGE-ID to you on Patchwork, without waiting.
You are the `me' of the instance in the pwnm-sync config.
Interactively, the patch at point (on a reply, the patch it answers);
on a cover letter, the patches of its series, after asking when
several."
  (interactive (list (pwnm-sync--target-id-at-point)))
  (if (and (called-interactively-p 'any) (pwnm-sync--cover-letter-p))
      (pwnm-sync--with-series-patches
       message-id "delegate"
       (lambda (patches)
         (pwnm-sync--confirm-several (pwnm-sync--patch-names patches) nil "Delegate these %d patches to you")
         (pwnm-sync--delegate (mapcar (lambda (p) (plist-get p :msgid)) patches))))
    (pwnm-sync--delegate (list message-id))))

(defun pwnm-sync--delegate (message-ids)
  "Delegate the patches MESSAGE-IDS to you on Patchwork, without waiting."
  (pwnm-sync--request
   :delegate (list :messageIds (vconcat message-ids))
   :label "delegate"
   :needs-token t
   :success (lambda (result)
              (seq-doseq (r (plist-get result :results))
                (pwnm-sync--log "delegate %s %s: %s %s" (plist-get r :project) (plist-get r :msgid)
                                (plist-get r :outcome) (or (plist-get r :reason) (plist-get r :delegate)))
                (pwnm-sync--message "%s: %s" (plist-get r :project)
                                    (if (equal (plist-get r :outcome) "delegated")
                                        (format "delegated to %s" (plist-get r :delegate))
                                      (format "refused: %s" (plist-get r :reason))))))))

;;; notmuch-hello

(defun pwnm-sync--hello-searches ()
  "Return saved-search plists for the Patchwork section.
From the remembered projects and the tag names the server gave."
  (cl-loop for p in pwnm-sync--facts
           append (cl-loop for name in pwnm-sync-hello-states
                           for tag = (or (cdr (assoc name (pwnm-sync--state-tags p)))
                                         (pwnm-sync--family-tag p name))
                           when tag
                           collect (list :name (format "%s %s" (plist-get p :project) name)
                                         :query (pwnm-sync-hello-query p tag)))))

(defun pwnm-sync--hello-may-start-p ()
  "Return non-nil if a hello redraw should start the server.
Not when it runs, nor after it failed to start or died: each redraw
would start another; a command starts it then.  Nor as Emacs exits."
  (not (or pwnm-sync--start-failure pwnm-sync--server-died pwnm-sync--exiting
           (and pwnm-sync--connection (jsonrpc-running-p pwnm-sync--connection)))))

(defun pwnm-sync--hello-start ()
  "Start the server for hello, if that is still right."
  (when (pwnm-sync--hello-may-start-p)
    (pwnm-sync--with-connection #'ignore #'ignore)))

(defun pwnm-sync-hello-insert ()
  "Insert the \"Patchwork\" section into notmuch-hello.
Put it in `notmuch-hello-sections' (`pwnm-sync-mode' does so).  Entries
with no messages show only when `notmuch-show-empty-saved-searches' is
set, as in notmuch's own saved-searches section.

Never waits for the server: the counts come from notmuch (`notmuch
count --batch', as for notmuch-hello's own searches), the projects and
tag names from what the server said last (`pwnm-sync-facts-file').
The server starts afterwards, from a timer, and the section is redrawn
if what it says has changed."
  (pwnm-sync--load-facts)
  (when (pwnm-sync--hello-may-start-p)
    (run-with-timer 0 nil #'pwnm-sync--hello-start))
  (condition-case err
      (if pwnm-sync--facts
          (progn
            (notmuch-hello-insert-searches "Patchwork" (append (pwnm-sync--hello-searches)
                                                               (pwnm-sync--hello-bundle-searches))
                                           :show-empty-searches notmuch-show-empty-saved-searches)
            (pwnm-sync-hello-insert-status))
        (widget-insert (if pwnm-sync--start-failure
                           (format "Patchwork: the pwnm-sync server did not start: %s (M-x pwnm-sync-events)\n"
                                   pwnm-sync--start-failure)
                         "Patchwork: waiting for the pwnm-sync server to describe the projects.\n")))
    (error (widget-insert (format "Patchwork: %s\n" (error-message-string err))))))

(provide 'pwnm-sync-notmuch)
;;; pwnm-sync-notmuch.el ends here
