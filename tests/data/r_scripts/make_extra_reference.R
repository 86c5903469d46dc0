# Extra reference results for surveyapp.analysis, from R `survey` (Debian r-cran-survey).
# Run from the repository root:  Rscript tests/data/r_scripts/make_extra_reference.R
# Writes tests/data/r_reference/{apistrat_extra.csv, pop_compimp.csv, raked3_weights.csv,
# r_survey_extra.csv}. Tests read those files; they never need R.
suppressWarnings(library(survey))
data(api)
out <- "tests/data/r_reference"

d <- apistrat[, c("cds","stype","sch.wide","awards","comp.imp","api00","meals","ell","enroll","pw")]
d$sch.wide <- as.character(d$sch.wide); d$awards <- as.character(d$awards)
d$comp.imp <- as.character(d$comp.imp); d$stype <- as.character(d$stype)
d$awards_yes <- as.numeric(d$awards == "Yes")
# A 3-level domain that is not a raking variable, and one with a tiny category.
d$meals_cat <- as.character(cut(d$meals, c(-1, 25, 60, 101), labels=c("low","mid","high")))
d$size_cat <- ifelse(d$enroll > 2400, "huge", ifelse(d$enroll < 400, "small", "medium"))
d$tiny_cat <- ifelse(seq_len(nrow(d)) %in% c(3, 50, 101, 150, 160, 199), "tiny", "rest")
# Items with missing values (not asked / no answer), deterministic.
d$api00_na <- ifelse(d$ell > 50, NA, d$api00)
d$awards_na <- ifelse(seq_len(nrow(d)) %% 7 == 0, NA, d$awards_yes)
d$awards_cat_na <- ifelse(is.na(d$awards_na), NA, d$awards)
# A service-use indicator for reach.
d$user <- as.numeric(d$sch.wide == "Yes" & d$meals > 20)
d$fpc_n <- 6194
write.csv(d, file.path(out, "apistrat_extra.csv"), row.names=FALSE)

pm_stype <- as.data.frame(table(stype=apipop$stype)); names(pm_stype)[2] <- "count"
pm_sw <- as.data.frame(table(sch.wide=apipop$sch.wide)); names(pm_sw)[2] <- "count"
pm_ci <- as.data.frame(table(comp.imp=apipop$comp.imp)); names(pm_ci)[2] <- "count"
write.csv(pm_ci, file.path(out, "pop_compimp.csv"), row.names=FALSE)

res <- list()
add <- function(case, group_var, group, est, se=NA, lo=NA, hi=NA, extra="") {
  res[[length(res)+1]] <<- data.frame(case=case, group_var=group_var, group=as.character(group),
                                      estimate=as.numeric(est), se=as.numeric(se),
                                      ci_low=as.numeric(lo), ci_high=as.numeric(hi), note=extra)
}
by_rows <- function(case, b, var, byvar) {
  for (i in seq_len(nrow(b))) {
    lo <- if ("ci_l" %in% names(b)) b$ci_l[i] else NA
    hi <- if ("ci_u" %in% names(b)) b$ci_u[i] else NA
    add(case, byvar, b[[byvar]][i], b[[var]][i], b$se[i], lo, hi)
  }
}

des <- svydesign(ids=~1, weights=~pw, data=d)
rk3 <- rake(des, list(~stype, ~sch.wide, ~comp.imp), list(pm_stype, pm_sw, pm_ci),
            control=list(maxit=2000, epsilon=1e-12))
write.csv(data.frame(cds=d$cds, raked_weight=weights(rk3)), file.path(out, "raked3_weights.csv"),
          row.names=FALSE)
w3 <- weights(rk3)
add("kish_deff_raked3", "all", "all", length(w3) * sum(w3^2) / sum(w3)^2)

# 1. Raking on three margins: overall and domain means/proportions (domain not raked on).
m <- svymean(~api00, rk3); add("mean_raked3", "all", "all", coef(m), SE(m))
m <- svymean(~awards_yes, rk3); add("prop_raked3", "all", "all", coef(m), SE(m))
by_rows("mean_raked3_by_meals", svyby(~api00, ~meals_cat, rk3, svymean), "api00", "meals_cat")
by_rows("prop_raked3_by_meals", svyby(~awards_yes, ~meals_cat, rk3, svymean), "awards_yes", "meals_cat")
by_rows("prop_raked3_by_stype", svyby(~awards_yes, ~stype, rk3, svymean), "awards_yes", "stype")
for (meth in c("logit", "beta")) {
  b <- svyby(~awards_yes, ~meals_cat, rk3, svyciprop, method=meth, vartype=c("se","ci"))
  by_rows(paste0("prop_raked3_ci_", meth, "_by_meals"), b, "awards_yes", "meals_cat")
}
ci <- svyciprop(~awards_yes, rk3, method="beta")
add("prop_raked3_ci_beta", "all", "all", coef(ci), SE(ci), confint(ci)[1], confint(ci)[2])

# 2. Rao-Scott with a 3x3 table, plain and raked; and 2x3 with a missing item.
for (dn in c("plain", "raked3")) {
  dd <- if (dn == "plain") des else rk3
  t1 <- svychisq(~meals_cat + stype, dd, statistic="F")
  add(paste0("raoscott_F_meals_stype_", dn), "all", "all", t1$statistic, NA, NA, NA,
      paste0("ndf=", t1$parameter[1], ";ddf=", t1$parameter[2], ";p=", t1$p.value))
  t2 <- svychisq(~meals_cat + stype, dd, statistic="Chisq")
  add(paste0("raoscott_chisq_meals_stype_", dn), "all", "all", t2$statistic, NA, NA, NA,
      paste0("df=", t2$parameter, ";p=", t2$p.value))
}
t1 <- svychisq(~awards_cat_na + meals_cat, des, statistic="F")
add("raoscott_F_awardsna_meals_plain", "all", "all", t1$statistic, NA, NA, NA,
    paste0("ndf=", t1$parameter[1], ";ddf=", t1$parameter[2], ";p=", t1$p.value))
t2 <- svychisq(~awards_cat_na + meals_cat, des, statistic="Chisq")
add("raoscott_chisq_awardsna_meals_plain", "all", "all", t2$statistic, NA, NA, NA,
    paste0("df=", t2$parameter, ";p=", t2$p.value))

# 3. Finite population correction.
desf <- svydesign(ids=~1, weights=~pw, fpc=~fpc_n, data=d)
m <- svymean(~api00, desf); add("mean_fpc", "all", "all", coef(m), SE(m))
by_rows("prop_fpc_by_stype", svyby(~awards_yes, ~stype, desf, svymean), "awards_yes", "stype")
ci <- svyciprop(~awards_yes, desf, method="logit")
add("prop_fpc_ci_logit", "all", "all", coef(ci), SE(ci), confint(ci)[1], confint(ci)[2])
rkf <- rake(desf, list(~stype, ~sch.wide), list(pm_stype, pm_sw), control=list(maxit=2000, epsilon=1e-12))
by_rows("prop_fpc_raked_by_meals", svyby(~awards_yes, ~meals_cat, rkf, svymean), "awards_yes", "meals_cat")

# 4. A domain with very few rows.
for (meth in c("logit", "beta")) {
  b <- svyby(~awards_yes, ~size_cat, des, svyciprop, method=meth, vartype=c("se","ci"))
  by_rows(paste0("prop_ci_", meth, "_by_size"), b, "awards_yes", "size_cat")
}
add("n_size_cat_huge", "size_cat", "huge", sum(d$size_cat == "huge"))
for (dn in c("plain", "raked3")) {
  dd <- if (dn == "plain") des else rk3
  for (meth in c("logit", "beta")) {
    b <- svyby(~awards_yes, ~tiny_cat, dd, svyciprop, method=meth, vartype=c("se","ci"))
    by_rows(paste0("prop_ci_", meth, "_by_tiny_", dn), b, "awards_yes", "tiny_cat")
  }
}

# 5. Logistic regression with several factors, plain and raked.
for (dn in c("plain", "raked3")) {
  dd <- if (dn == "plain") des else rk3
  g <- svyglm(awards_yes ~ stype + meals_cat + ell + enroll, design=dd, family=quasibinomial())
  cf <- summary(g)$coefficients
  for (i in seq_len(nrow(cf))) add(paste0("logit_multi_", dn), "coef", rownames(cf)[i], cf[i,1], cf[i,2],
                                   NA, NA, paste0("p=", cf[i,4], ";df=", g$df.residual))
}
# ... and with a missing outcome (rows dropped from the fit, kept for the variance).
g <- svyglm(awards_na ~ stype + meals, design=des, family=quasibinomial())
cf <- summary(g)$coefficients
for (i in seq_len(nrow(cf))) add("logit_na_plain", "coef", rownames(cf)[i], cf[i,1], cf[i,2],
                                 NA, NA, paste0("p=", cf[i,4], ";df=", g$df.residual))

# 6. Differences between domains: each stype against the rest, plain and raked. For the plain
# design via svyby(covmat=TRUE) + svycontrast; svyby's influence functions fail on raked
# designs in survey 4.1.1, so there (and for the plain design too, as a cross-check) via the
# equivalent svyglm(y ~ group): its coefficient is the difference of the two domain means and
# its sandwich SE the linearised SE of that difference.
for (dn in c("plain", "raked2", "raked3")) {
  dd <- switch(dn, plain=des, raked3=rk3,
               raked2=rake(des, list(~stype, ~sch.wide), list(pm_stype, pm_sw), control=list(maxit=2000, epsilon=1e-12)))
  for (lev in c("E", "H", "M")) {
    dd2 <- update(dd, outgroup=as.numeric(stype != lev))
    for (v in c("awards_yes", "api00")) {
      g <- svyglm(as.formula(paste0(v, " ~ outgroup")), design=dd2)
      # coefficient = mean(rest) - mean(group); we report group - rest.
      add(paste0("diff_rest_", v, "_", dn), "stype", lev, -coef(g)[2], SE(g)[2])
      if (dn == "plain") {
        b <- svyby(as.formula(paste0("~", v)), ~outgroup, dd2, svymean, covmat=TRUE)
        ct <- svycontrast(b, c(1, -1))
        add(paste0("diff_rest_svyby_", v, "_", dn), "stype", lev, coef(ct), SE(ct))
      }
    }
  }
  g <- svyglm(awards_yes ~ stype, design=dd)
  add(paste0("diff_H_E_awards_", dn), "stype", "H-E", coef(g)["stypeH"], SE(g)["stypeH"])
}

# 7. Items with missing values: overall (na.rm) and by domain; CIs on the answered subset.
m <- svymean(~api00_na, des, na.rm=TRUE); add("mean_na", "all", "all", coef(m), SE(m))
by_rows("mean_na_by_stype", svyby(~api00_na, ~stype, des, svymean, na.rm=TRUE), "api00_na", "stype")
by_rows("prop_na_raked3_by_stype", svyby(~awards_na, ~stype, rk3, svymean, na.rm=TRUE), "awards_na", "stype")
for (lev in c("E", "H", "M")) {
  sub <- subset(des, stype == lev & !is.na(awards_na))
  ci <- svyciprop(~awards_na, sub, method="logit")
  add("prop_na_ci_logit_by_stype", "stype", lev, coef(ci), SE(ci), confint(ci)[1], confint(ci)[2],
      paste0("df=", degf(sub)))
}

# 8. Reach: share of each stype among users (svymean of the factor on the users' subset).
for (dn in c("plain", "raked2")) {
  dd <- if (dn == "plain") des else rake(des, list(~stype, ~sch.wide), list(pm_stype, pm_sw), control=list(maxit=2000, epsilon=1e-12))
  sub <- subset(dd, user == 1)
  m <- svymean(~factor(stype), sub)
  for (i in seq_along(coef(m))) add(paste0("reach_share_", dn), "stype", sub("factor\\(stype\\)", "", names(coef(m))[i]),
                                    coef(m)[i], SE(m)[i], NA, NA, paste0("df=", degf(sub)))
}

r <- do.call(rbind, res)
write.csv(r, file.path(out, "r_survey_extra.csv"), row.names=FALSE)
print(r)
