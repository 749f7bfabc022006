;;; pwnm-sync-lists.el --- Patch facts, what waits, bundles and searches for pwnm-sync  -*- lexical-binding: t; -*-

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

;; Lists of Patchwork things in notmuch-emacs: `pwnm-sync-patch-info'
;; (a patch's facts), `pwnm-sync-pending' (what waits to be pushed),
;; the bundle commands, `pwnm-sync-bundles', a
;; buffer of your bundles (RET opens a bundle's patches in
;; notmuch-search), and `pwnm-sync-saved-searches', which puts "PROJECT
;; new", "PROJECT mine" and "PROJECT check-fail" in
;; `notmuch-saved-searches' so that notmuch-jump (j) reaches them.

;;; Code:

(require 'tabulated-list)
(require 'notmuch)
(require 'pwnm-sync-rpc)
(require 'pwnm-sync-notmuch)
(require 'pwnm-sync-git)

;; Defined in pwnm-sync.el and pwnm-sync-mail.el, which load after this file.
(declare-function pwnm-sync "pwnm-sync")
(declare-function pwnm-sync-mail-fill "pwnm-sync-mail")

;;; Patch facts

(defun pwnm-sync-patch-info (message-id &optional refresh)
  "Show what Patchwork knows of the patch MESSAGE-ID, without waiting.
With REFRESH (interactively, the command `pwnm-sync-patch-info-refresh'),
re-read the patch from Patchwork first.
The facts show in *pwnm-sync patch* when the server answers (its CI
results come from Patchwork, so this can take a moment); return the
request's cancel token."
  (interactive (list (pwnm-sync--patch-message-id-at-point "Y i")))
  (pwnm-sync--message "Asking for the facts of %s..." message-id)
  (pwnm-sync--request
   :patchInfo (list :messageId message-id :refresh (if refresh t :json-false))
   :label "patch info"
   :success (lambda (info)
              (pwnm-sync--show-patch-info (plist-get info :patches))
              (message nil))))

(defun pwnm-sync-patch-info-refresh (message-id)
  "Re-read the patch MESSAGE-ID from Patchwork and show its facts."
  (interactive (list (pwnm-sync--patch-message-id-at-point "Y I")))
  (pwnm-sync-patch-info message-id t))

(defun pwnm-sync--show-patch-info (patches)
  "Show PATCHES, the patchInfo result's list, in *pwnm-sync patch*."
  (with-help-window "*pwnm-sync patch*"
    (seq-doseq (p patches)
      (princ (format "%s (%s), patch %s\n" (plist-get p :project) (plist-get p :instance) (plist-get p :patchId)))
      (princ (format "  %s\n" (or (plist-get p :name) "")))
      (princ (format "  State:    %s%s\n" (plist-get p :stateName)
                     (if (eq (plist-get p :archived) t) ", archived" "")))
      (princ (format "  Delegate: %s\n" (or (plist-get p :delegate) "nobody")))
      (let ((series (plist-get p :series)))
        (when series
          (princ (format "  Series:   v%s %s/%s %s\n" (or (plist-get series :version) 1)
                         (or (plist-get series :part) 1) (or (plist-get series :total) 1)
                         (or (plist-get series :name) "")))))
      (unless (seq-empty-p (plist-get p :dependsOn))
        (princ (format "  Needs:    %s\n" (mapconcat (lambda (d) (format "%s (series %s)" (plist-get d :name) (plist-get d :id)))
                                                  (plist-get p :dependsOn) ", "))))
      (princ (format "  CI:       %s\n" (or (plist-get p :check) "unknown")))
      (seq-doseq (c (or (plist-get p :checks) []))
        (princ (format "    %-8s %s %s\n" (plist-get c :state) (plist-get c :context)
                       (or (plist-get c :targetUrl) ""))))
      (princ (format "  Date:     %s\n" (or (plist-get p :date) "")))
      (princ (format "  Web:      %s\n" (or (plist-get p :webUrl) "")))
      (princ (format "  Mbox:     %s\n" (or (plist-get p :mboxUrl) "")))
      (let ((bundles (plist-get p :bundles)))
        (unless (seq-empty-p bundles)
          (princ (format "  Bundles:  %s\n" (mapconcat (lambda (b) (plist-get b :name)) bundles ", ")))))
      (let ((review (plist-get p :review)))
        (when review
          (let ((words (string-join (append (plist-get review :tags)
                                            (and (eq (plist-get review :needsMyReview) t)
                                                 '("needs my review")))
                                    ", ")))
            (princ (format "  Review:   %s\n" (if (string-empty-p words) "none" words))))))
      (seq-doseq (w (plist-get p :pending))
        (princ (format "  Waiting:  %s %s\n" (plist-get w :kind) (plist-get w :reason))))
      (princ "\n"))))

(defun pwnm-sync-browse (message-id)
  "Open the Patchwork web page of the patch MESSAGE-ID, without waiting.
The server answers from its state database (no CI checks asked).
Interactively, the patch at point (on a reply, the patch it answers);
on a cover letter, the page that lists its series' patches."
  (interactive (list (pwnm-sync--target-id-at-point)))
  (if (and (called-interactively-p 'any) (pwnm-sync--cover-letter-p))
      (pwnm-sync--with-series-patches
       message-id "browse"
       (lambda (patches) (pwnm-sync--browse-series (plist-get (car patches) :msgid))))
    (pwnm-sync--browse-patch message-id)))

(defun pwnm-sync--browse-series (message-id)
  "Open the Patchwork page listing the series of the patch MESSAGE-ID.
Patchwork's own address for a series: the project's patch list
filtered by it (the series' web_url in the REST API)."
  (pwnm-sync--request
   :patchInfo (list :messageId message-id :checks :json-false)
   :label "browse"
   :success (lambda (info)
              (let* ((patch (seq-first (plist-get info :patches)))
                     (url (plist-get patch :webUrl))
                     (series (plist-get (plist-get patch :series) :id)))
                (if (and url series (string-match "\\(/project/[^/]+\\)/patch/.*\\'" url))
                    (browse-url (replace-match (format "\\1/list/?series=%d" series) t nil url))
                  (pwnm-sync--error "Patchwork gave no web page for the series of %s" message-id))))))

(defun pwnm-sync--browse-patch (message-id)
  "Open the Patchwork web page of the patch MESSAGE-ID."
  (pwnm-sync--request
   :patchInfo (list :messageId message-id :checks :json-false)
   :label "browse"
   :success (lambda (info)
              (let ((url (plist-get (seq-first (plist-get info :patches)) :webUrl)))
                (if url (browse-url url)
                  (pwnm-sync--error "Patchwork gave no web page for %s" message-id))))))

;;; What waits

(defvar-local pwnm-sync--pending-items nil
  "The items shown in a `pwnm-sync-pending-mode' buffer.")

(defvar-local pwnm-sync--pending-marked nil
  "The ids of the items marked for dropping in a `pwnm-sync-pending-mode' buffer.")

(defvar pwnm-sync-pending-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map "r" #'pwnm-sync-pending-retry)
    (define-key map "d" #'pwnm-sync-pending-mark-drop)
    (define-key map "u" #'pwnm-sync-pending-unmark)
    (define-key map "x" #'pwnm-sync-pending-execute)
    (define-key map (kbd "RET") #'pwnm-sync-pending-open)
    map)
  "Keymap for `pwnm-sync-pending-mode'.")

(define-derived-mode pwnm-sync-pending-mode tabulated-list-mode "pwnm-sync pending"
  "What waits for you: queued pushes, conflicts, ambiguous tags, refusals.
As `list-packages': \\[pwnm-sync-pending-mark-drop] marks an item to drop, \\[pwnm-sync-pending-unmark] unmarks it,
\\[pwnm-sync-pending-execute] drops the marked ones after asking, \\[revert-buffer] reloads the list.

\\{pwnm-sync-pending-mode-map}"
  (setq tabulated-list-format [("Kind" 9 t) ("Project" 12 t) ("State" 16 t) ("Subject" 50 t) ("Why" 0 nil)]
        tabulated-list-padding 2)
  (setq-local revert-buffer-function (lambda (&rest _) (pwnm-sync-pending-refresh)))
  (tabulated-list-init-header))

(defun pwnm-sync-pending ()
  "List what waits: queued pushes, conflicts, ambiguous tags and refusals.
The buffer opens at once and fills when the server answers."
  (interactive)
  (with-current-buffer (get-buffer-create "*pwnm-sync pending*")
    (unless (derived-mode-p 'pwnm-sync-pending-mode) (pwnm-sync-pending-mode))
    (pwnm-sync-pending-refresh)
    (pop-to-buffer (current-buffer))))

(defun pwnm-sync--subjects (ids)
  "Return an alist of (ID . SUBJECT) for the messages IDS, from one notmuch call."
  (let ((found nil))
    (when ids
      (cl-labels ((walk (x)
                    (cond ((and (consp x) (keywordp (car x)) (plist-get x :id))
                           (push (cons (plist-get x :id) (plist-get (plist-get x :headers) :Subject)) found))
                          ((consp x) (mapc #'walk x)))))
        (walk (ignore-errors
                (pwnm-sync--call-sexp "show" "--format=sexp" "--body=false" "--entire-thread=false"
                                      (mapconcat #'notmuch-id-to-query (delete-dups (copy-sequence ids)) " or "))))))
    found))

(defun pwnm-sync--pending-show (items)
  "Show ITEMS, the pending result's list, in *pwnm-sync pending*.
Each with its message's subject from notmuch (its Message-Id when
notmuch has no such message); marks stay on the items still there."
  (with-current-buffer (get-buffer-create "*pwnm-sync pending*")
    (unless (derived-mode-p 'pwnm-sync-pending-mode) (pwnm-sync-pending-mode))
    (let ((subjects (pwnm-sync--subjects (cl-loop for item across items collect (plist-get item :messageId)))))
      (setq pwnm-sync--pending-items items
            pwnm-sync--pending-marked (cl-loop for item across items
                                               for id = (plist-get item :id)
                                               when (member id pwnm-sync--pending-marked) collect id)
            tabulated-list-entries
            (cl-loop for item across items
                     for msgid = (plist-get item :messageId)
                     collect (list (plist-get item :id)
                                   (vector (plist-get item :kind) (plist-get item :project)
                                           (or (plist-get item :state) "")
                                           (or (cdr (assoc msgid subjects)) msgid)
                                           (or (plist-get item :reason) ""))))))
    (tabulated-list-print t)
    (save-excursion
      (goto-char (point-min))
      (while (not (eobp))
        (when (member (tabulated-list-get-id) pwnm-sync--pending-marked)
          (tabulated-list-put-tag "D"))
        (forward-line 1)))))

(defun pwnm-sync-pending-refresh ()
  "Reload the list of what waits, without waiting."
  (interactive)
  (pwnm-sync--request :pending nil
                      :label "pending"
                      :success (lambda (result) (pwnm-sync--pending-show (plist-get result :items)))))

(defun pwnm-sync-pending-retry (id)
  "Retry the pending item ID (interactively, the one at point), without waiting."
  (interactive (list (or (tabulated-list-get-id) (user-error "No item at point"))))
  (pwnm-sync--message "Retrying...")
  (pwnm-sync--request :retry (list :ids (vector id))
                      :label "retry"
                      :needs-token t
                      :success (lambda (result)
                                 (pwnm-sync--report-push (plist-get result :results))
                                 (pwnm-sync-pending-refresh))))

(defun pwnm-sync-pending-mark-drop ()
  "Mark the item at point to be dropped (by \\[pwnm-sync-pending-execute]); go to the next."
  (interactive)
  (let ((id (or (tabulated-list-get-id) (user-error "No item at point"))))
    (cl-pushnew id pwnm-sync--pending-marked :test #'equal)
    (tabulated-list-put-tag "D" t)))

(defun pwnm-sync-pending-unmark ()
  "Take the mark off the item at point; go to the next."
  (interactive)
  (let ((id (or (tabulated-list-get-id) (user-error "No item at point"))))
    (setq pwnm-sync--pending-marked (delete id pwnm-sync--pending-marked))
    (tabulated-list-put-tag "" t)))

(defun pwnm-sync-pending-execute ()
  "Drop the marked items, after asking."
  (interactive)
  (let ((ids (reverse pwnm-sync--pending-marked)))
    (cond ((null ids) (user-error "No item marked (d marks one)"))
          ((y-or-n-p (format "Forget %d marked item(s)? " (length ids)))
           (setq pwnm-sync--pending-marked nil)
           (pwnm-sync-pending-drop ids))
          (t (pwnm-sync--message "Nothing dropped")))))

(defun pwnm-sync-pending-drop (ids)
  "Forget the pending items IDS (a list, or one id) at once, on the server."
  (pwnm-sync--request :drop (list :ids (vconcat (if (listp ids) ids (list ids))))
                      :label "drop"
                      :success (lambda (r)
                                 (pwnm-sync--message "%d item(s) dropped" (plist-get r :dropped))
                                 (pwnm-sync-pending-refresh))))

(defun pwnm-sync-pending-open (id)
  "Show the message of the pending item ID (interactively, the one at point)."
  (interactive (list (or (tabulated-list-get-id) (user-error "No item at point"))))
  (let ((item (seq-find (lambda (i) (equal (plist-get i :id) id)) pwnm-sync--pending-items)))
    (notmuch-show (notmuch-id-to-query (plist-get item :messageId)))))

;;; Bundles
;;
;; Your Patchwork bundles are tags, pw-PROJECT-bundle-NAME (the server
;; syncs them both ways).  These commands change a bundle at once; the
;; names for completion and the hello section come from the bundles the
;; server's last sync saw, asked for in the background.

(defvar pwnm-sync--bundles nil
  "Your bundles as the server last listed them.
Plists with :name :project :tag :count.")

(defun pwnm-sync--refresh-bundles ()
  "Ask the server for your bundles (from its state database, no Patchwork request).
When they changed, redraw `notmuch-hello'."
  (pwnm-sync--request
   :bundles (list :cached t)
   :label "bundles"
   :success (lambda (result)
              (let ((bundles (append (plist-get result :bundles) nil)))
                (unless (equal bundles pwnm-sync--bundles)
                  (setq pwnm-sync--bundles bundles)
                  (pwnm-sync--refresh-hello))))
   :error #'ignore))

(defun pwnm-sync--bundle-names (&optional tags)
  "Return the names of your bundles; with TAGS, only those whose tag is among them."
  (delete-dups (cl-loop for b in pwnm-sync--bundles
                        when (or (null tags) (member (plist-get b :tag) tags))
                        collect (plist-get b :name))))

(defun pwnm-sync--patch-message-ids (key)
  "Return the Message-Ids of the patch messages KEY acts on at point.
In show the patch at point, or the patch a reply answers (a cover
letter is refused, naming KEY); in tree the message; in search the
patch messages of the thread at point or of the threads in the region."
  (or (pcase major-mode
        ('notmuch-show-mode (list (pwnm-sync--patch-message-id-at-point key)))
        ('notmuch-tree-mode (list (notmuch-tree-get-message-id t)))
        ('notmuch-search-mode
         (let ((threads (if (use-region-p)
                            (notmuch-search-find-stable-query-region (region-beginning) (region-end))
                          (notmuch-search-find-thread-id))))
           (notmuch-call-notmuch-sexp "search" "--output=messages" "--format=sexp"
                                      (format "(%s) and tag:patchwork" threads)))))
      (user-error "No patch message at point")))

(defun pwnm-sync-bundle-add (name message-ids &optional series)
  "Add the patches MESSAGE-IDS to your Patchwork bundle NAME, without waiting.
Interactively, NAME is read with completion over your bundles (a new
name creates a private bundle), and MESSAGE-IDS are the patch at point,
or in search the patches of the thread at point or of the region.
With SERIES (interactively, a prefix argument), the server adds the
whole series of each.  The tags follow when Patchwork confirms it."
  (interactive (list (completing-read "Add to bundle (a new name creates it): " (pwnm-sync--bundle-names))
                     (pwnm-sync--patch-message-ids "Y B")
                     current-prefix-arg))
  (when (string-empty-p name) (user-error "No bundle name given"))
  (pwnm-sync--request
   :bundleAdd (list :name name :messageIds (vconcat message-ids) :series (if series t :json-false))
   :label "bundle add"
   :needs-token t
   :success (lambda (r)
              (pwnm-sync--message "%s %s: %d added, %d in all"
                                  (if (eq (plist-get r :created) t) "New bundle" "Bundle")
                                  name (plist-get r :changed) (plist-get r :patches))
              (pwnm-sync--refresh-bundles))))

(defun pwnm-sync-bundle-remove (name message-ids)
  "Take the patches MESSAGE-IDS out of your Patchwork bundle NAME, without waiting.
Interactively, NAME is read with completion over the bundles the
message at point is in."
  (interactive (let ((names (pwnm-sync--bundle-names (pwnm-sync--tags-at-point))))
                 (unless names (user-error "Not in one of your bundles"))
                 (list (completing-read "Remove from bundle: " names nil t)
                       (pwnm-sync--patch-message-ids "Y D"))))
  (pwnm-sync--request
   :bundleRemove (list :name name :messageIds (vconcat message-ids))
   :label "bundle remove"
   :needs-token t
   :success (lambda (r)
              (pwnm-sync--message "Bundle %s: %d removed, %d left" name (plist-get r :changed) (plist-get r :patches))
              (pwnm-sync--refresh-bundles))))

(defun pwnm-sync--hello-bundle-searches ()
  "Return saved-search plists, one per bundle of yours."
  (cl-loop for b in pwnm-sync--bundles
           collect (list :name (format "%s bundle %s" (plist-get b :project) (plist-get b :name))
                         :query (format "tag:%s" (plist-get b :tag)))))

;;; The bundles buffer

(defvar pwnm-sync-bundles-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'pwnm-sync-bundles-open)
    (define-key map "a" #'pwnm-sync-bundles-apply)
    (define-key map "w" #'pwnm-sync-bundles-save-mbox)
    (define-key map "D" #'pwnm-sync-bundles-delete)
    (define-key map "g" #'pwnm-sync-bundles-refresh)
    map)
  "Keymap for `pwnm-sync-bundles-mode'.")

(define-derived-mode pwnm-sync-bundles-mode tabulated-list-mode "pwnm-sync bundles"
  "Your Patchwork bundles, as the last sync saw them.
RET opens a bundle's patches, \\[pwnm-sync-bundles-apply] applies them to the
project's git repository, \\[pwnm-sync-bundles-save-mbox] saves their mbox,
\\[pwnm-sync-bundles-delete] deletes the bundle on Patchwork.

\\{pwnm-sync-bundles-mode-map}"
  (setq tabulated-list-format [("Project" 14 t) ("Bundle" 30 t) ("Patches" 8 t :right-align t) ("Visibility" 10 t)])
  (tabulated-list-init-header))

(defun pwnm-sync--bundles-show (bundles)
  "Show BUNDLES, plists from the server's `bundles' request, in a buffer."
  (with-current-buffer (get-buffer-create "*pwnm-sync bundles*")
    (unless (derived-mode-p 'pwnm-sync-bundles-mode) (pwnm-sync-bundles-mode))
    (setq tabulated-list-entries
          (cl-loop for b across bundles
                   collect (list b (vector (plist-get b :project) (plist-get b :name)
                                           (number-to-string (plist-get b :count))
                                           (if (eq (plist-get b :public) t) "public" "private")))))
    (tabulated-list-print t)))

(defun pwnm-sync-bundles-refresh ()
  "Reload the bundles from the server's state database, without waiting."
  (interactive)
  (pwnm-sync--request :bundles (list :cached t)
                      :label "bundles"
                      :success (lambda (result) (pwnm-sync--bundles-show (plist-get result :bundles)))))

;;;###autoload
(defun pwnm-sync-bundles ()
  "List your Patchwork bundles; RET opens one's patches in `notmuch-search'.
The buffer opens at once and fills when the server answers."
  (interactive)
  (with-current-buffer (get-buffer-create "*pwnm-sync bundles*")
    (unless (derived-mode-p 'pwnm-sync-bundles-mode) (pwnm-sync-bundles-mode))
    (pwnm-sync-bundles-refresh)
    (pop-to-buffer (current-buffer))))

(defun pwnm-sync-bundles-open (bundle)
  "Open the patches of BUNDLE (interactively, the one at point).
In `notmuch-search'."
  (interactive (list (or (tabulated-list-get-id) (user-error "No bundle at point"))))
  (notmuch-search (format "tag:%s" (plist-get bundle :tag)) t))

;; Each key works on the bundle at point and does not wait for Patchwork.

(defun pwnm-sync--bundle-at-point ()
  "Return the bundle (a plist) at point, or signal a user error."
  (or (tabulated-list-get-id) (user-error "No bundle at point")))

(defun pwnm-sync-bundles-apply (bundle repo)
  "Apply the patches of BUNDLE, in the bundle's order, to the git REPO.
Interactively the bundle at point, and its project's repository (see
`pwnm-sync-project-repositories').  As \\[pwnm-sync-apply] does for a
series: `git am' without blocking Emacs, the outcome in the apply buffer."
  (interactive
   (let* ((bundle (pwnm-sync--bundle-at-point))
          (name (plist-get bundle :project))
          (project (or (seq-find (lambda (p) (equal (plist-get p :project) name)) (pwnm-sync--projects))
                       (list :project name))))
     (list bundle (pwnm-sync--project-repository project))))
  (let ((repo (expand-file-name repo))
        (name (plist-get bundle :name)))
    (pwnm-sync--apply-start (format "bundle %s" name)
                            (list :bundle name :project (plist-get bundle :project) :repo repo)
                            repo)))

(defun pwnm-sync-bundles-save-mbox (bundle file)
  "Save the mbox of BUNDLE (interactively, the one at point) in FILE.
Downloaded by the server, with your token when the bundle is private."
  (interactive
   (let ((bundle (pwnm-sync--bundle-at-point)))
     (list bundle (read-file-name "Save the bundle's mbox in: " nil nil nil
                                  (format "%s.mbox" (plist-get bundle :name))))))
  (let ((file (expand-file-name file)))
    (pwnm-sync--request
     :bundleMbox (list :name (plist-get bundle :name) :project (plist-get bundle :project) :download t)
     :label "bundle mbox"
     :success (lambda (result)
                (let ((coding-system-for-write 'utf-8-unix))
                  (write-region (plist-get result :mbox) nil file nil 'silent))
                (pwnm-sync--message "Saved bundle %s in %s" (plist-get bundle :name) file)))))

(defun pwnm-sync-bundles-delete (bundle)
  "Delete BUNDLE (interactively, the one at point) on Patchwork, after asking.
Its tag leaves every message; the patches stay."
  (interactive (list (pwnm-sync--bundle-at-point)))
  (let ((name (plist-get bundle :name)))
    (when (y-or-n-p (format "Delete bundle %s (%d patches) on Patchwork? " name (plist-get bundle :count)))
      (pwnm-sync--request
       :bundleDelete (list :name name :project (plist-get bundle :project))
       :label "bundle delete"
       :needs-token t
       :success (lambda (_result)
                  (pwnm-sync--message "Deleted bundle %s" name)
                  (when (get-buffer "*pwnm-sync bundles*")
                    (with-current-buffer "*pwnm-sync bundles*" (pwnm-sync-bundles-refresh))))))))

;;; What hello tells: last sync, what waits, a sync button

(defcustom pwnm-sync-hello-include-archived nil
  "Non-nil: the Patchwork counts in `notmuch-hello' include archived patches.
nil leaves them out, as Patchwork's own patch list does."
  :type 'boolean
  :group 'pwnm-sync)

(defvar pwnm-sync--hello-counts nil
  "The projects of the server's last `counts' answer, a list of plists.")

(defun pwnm-sync-hello-query (project tag)
  "Return the hello query for TAG of PROJECT (a plist), archived left out.
Unless `pwnm-sync-hello-include-archived', or TAG is the archived tag."
  (let ((archived (pwnm-sync--family-tag project "archived")))
    (if (or pwnm-sync-hello-include-archived (null archived) (equal tag archived))
        (format "tag:%s" tag)
      (format "tag:%s and not tag:%s" tag archived))))

(defun pwnm-sync-hello-refresh-counts ()
  "Ask the running server for its counts; show them in hello's status line.
Never starts the server.  The answer changes the status line in
place: hello is not redrawn, so nothing else in it moves."
  (when (and pwnm-sync--connection (jsonrpc-running-p pwnm-sync--connection))
    (pwnm-sync--request :counts nil
                        :label "counts"
                        :success (lambda (result)
                                   (let ((projects (append (plist-get result :projects) nil)))
                                     (unless (equal projects pwnm-sync--hello-counts)
                                       (setq pwnm-sync--hello-counts projects)
                                       (pwnm-sync--hello-update-status))))
                        :error #'ignore)))

(defun pwnm-sync--hello-last-syncs ()
  "Return the last sync time of each instance, its least recent project's."
  (cl-loop for (instance . projects) in (seq-group-by (lambda (p) (plist-get p :instance)) pwnm-sync--hello-counts)
           for times = (mapcar (lambda (p) (plist-get p :syncedAt)) projects)
           collect (format "%s %s" instance
                           (if (memq nil times) "never"
                             (format-time-string "%F %R" (date-to-time (car (sort times #'string<))))))))

(defun pwnm-sync--hello-insert-status-line ()
  "Insert the status line at point, from `pwnm-sync--hello-counts'.
Text buttons, not widgets, so that the line can be replaced in place."
  (let ((start (point)))
    (insert (format "\tLast sync: %s.  "
                    (if pwnm-sync--hello-counts
                        (string-join (pwnm-sync--hello-last-syncs) ", ")
                      "not known yet")))
    (when pwnm-sync--hello-counts
      (insert-text-button (format "[%d pending]" (apply #'+ (mapcar (lambda (p) (plist-get p :pending))
                                                                   pwnm-sync--hello-counts)))
                          'action (lambda (_) (pwnm-sync-pending)) 'follow-link t
                          'help-echo "List the changes that wait to reach Patchwork")
      (insert " ")
      (let ((review (delq nil (mapcar (lambda (p) (plist-get p :needsMyReview)) pwnm-sync--hello-counts))))
        (when review
          (insert-text-button (format "[%d need my review]" (apply #'+ (mapcar (lambda (r) (plist-get r :count)) review)))
                              'action (lambda (_) (pwnm-sync-hello-needs-my-review review)) 'follow-link t
                              'help-echo "Patches new or under review, not delegated to someone else, that you have not answered")
          (insert " ")))
      (let ((missing (apply #'+ (mapcar (lambda (p) (or (plist-get p :missingLocally) 0))
                                        pwnm-sync--hello-counts))))
        (when (> missing 0)
          (insert-text-button (format "[%d not in notmuch]" missing)
                              'action (lambda (_) (pwnm-sync-mail-fill)) 'follow-link t
                              'help-echo "Fetch their mail from Patchwork into notmuch (pwnm-sync fill)")
          (insert " "))))
    (insert-text-button "[sync now]" 'action (lambda (_) (pwnm-sync)) 'follow-link t
                        'help-echo "Sync Patchwork and notmuch now")
    (insert "\n")
    (put-text-property start (point) 'pwnm-sync-hello-status t)))

(defun pwnm-sync-hello-needs-my-review (review)
  "Search the patches that need my review, REVIEW being the counts' entries.
Each entry holds the server's notmuch query for one project."
  (notmuch-search (mapconcat (lambda (r) (format "(%s)" (plist-get r :query))) review " or ") t))

(defun pwnm-sync--hello-update-status ()
  "Replace hello's status line by one made from `pwnm-sync--hello-counts'."
  (let ((hello (get-buffer "*notmuch-hello*")))
    (when (buffer-live-p hello)
      (with-current-buffer hello
        (let ((start (text-property-any (point-min) (point-max) 'pwnm-sync-hello-status t))
              (inhibit-read-only t))
          (when start
            (save-excursion
              (goto-char start)
              (delete-region start (or (next-single-property-change start 'pwnm-sync-hello-status)
                                       (point-max)))
              (pwnm-sync--hello-insert-status-line))))))))

(defun pwnm-sync-hello-insert-status ()
  "Insert hello's status line: last sync per instance, what waits, a sync button.
From the server's last `counts' answer.  When hello is on screen and
the server runs, newer counts are asked for in the background; they
replace the line when they come.  A hidden hello asks nothing: the
counts come anyway at the end of each sync."
  (pwnm-sync--hello-insert-status-line)
  (when (get-buffer-window (current-buffer) 'visible)
    (pwnm-sync-hello-refresh-counts)))

;;; Saved searches for notmuch-jump

(defcustom pwnm-sync-saved-searches nil
  "Non-nil: add Patchwork searches to `notmuch-saved-searches'.
For each project, \"PROJECT new\", \"PROJECT mine\" (delegated to
you) and \"PROJECT check-fail\", with keys so that notmuch-jump (j)
reaches them: p then n, m or f, a digit first when there are several
projects.  Added while `pwnm-sync-mode' is on."
  :type 'boolean
  :group 'pwnm-sync)

(defun pwnm-sync--saved-searches ()
  "Return the saved-search plists for `pwnm-sync-saved-searches'."
  (pwnm-sync--load-facts)
  (cl-loop for p in pwnm-sync--facts
           for i from 1
           for key = (if (cdr pwnm-sync--facts) (format "p%d" i) "p")
           append (cl-loop for (name family letter) in '(("new" "new" "n") ("mine" "delegated" "m")
                                                        ("check-fail" "check-fail" "f"))
                           for tag = (or (cdr (assoc family (pwnm-sync--state-tags p)))
                                         (pwnm-sync--family-tag p family))
                           when tag
                           collect (list :name (format "%s %s" (plist-get p :project) name)
                                         :query (format "tag:%s and not tag:%s" tag
                                                        (pwnm-sync--family-tag p "archived"))
                                         :key (concat key letter)
                                         :pwnm-sync t))))

(defun pwnm-sync-lists-install ()
  "Add to `notmuch-saved-searches' when `pwnm-sync-saved-searches' is on."
  (pwnm-sync-lists-uninstall)
  (when pwnm-sync-saved-searches
    (setq notmuch-saved-searches (append notmuch-saved-searches (pwnm-sync--saved-searches)))))

(defun pwnm-sync-lists-uninstall ()
  "Remove from `notmuch-saved-searches' what `pwnm-sync-lists-install' put."
  (setq notmuch-saved-searches
        (cl-remove-if (lambda (s) (and (consp s) (plist-get s :pwnm-sync))) notmuch-saved-searches)))

(provide 'pwnm-sync-lists)
;;; pwnm-sync-lists.el ends here
