;;; pwnm-sync-lists.el --- Bundles and Patchwork searches for pwnm-sync  -*- lexical-binding: t; -*-

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

;; Lists of Patchwork things in notmuch-emacs: `pwnm-sync-bundles', a
;; buffer of your bundles (RET opens a bundle's patches in
;; notmuch-search), and `pwnm-sync-saved-searches', which puts "PROJECT
;; new", "PROJECT mine" and "PROJECT check-fail" in
;; `notmuch-saved-searches' so that notmuch-jump (j) reaches them.

;;; Code:

(require 'tabulated-list)
(require 'notmuch)
(require 'pwnm-sync)

;;; Bundles

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
