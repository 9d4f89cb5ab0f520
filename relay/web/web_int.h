/*
 * web_int.h: what web.c and web_pages.c share (the templates).
 */
#ifndef WEB_INT_H
#define WEB_INT_H

extern const char web_tpl_layout[], web_tpl_layout_end[];
extern const char web_tpl_index_head[], web_tpl_index_account[];
extern const char web_tpl_index_dclogin[], web_tpl_index_tail[];
extern const char web_tpl_info[], web_tpl_privacy[], web_tpl_privacy2[];
extern const char web_tpl_autoconfig_head[], web_tpl_autoconfig_server[];
extern const char web_tpl_autoconfig_tail[];
extern const char web_tpl_mta_sts[], web_tpl_robots[], web_tpl_css[];
extern const char web_tpl_dclogin_js[];

#endif
